"""Live streams are capped per key and a revoked key's open stream ends (issue #19), over real
HTTP (uvicorn) with a real mosquitto behind the API."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import httpx
import pytest

from peakline_api.keys import KeyStore
from tests.integration.api.api_live_support import build, serve

pytestmark = pytest.mark.asyncio

DEADLINE_S = 10.0


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_streams_are_capped_per_key_and_end_when_the_key_is_revoked(
    tmp_path: Path, platform_config, store_url: str, mosquitto, topic_prefix: str
) -> None:
    app, tokens = await build(
        tmp_path, platform_config, store_url, mosquitto.url, topic_prefix, seed=False
    )
    auth = {"Authorization": f"Bearer {tokens['viewer_rt']}"}
    other = {"Authorization": f"Bearer {tokens['operator_rt']}"}
    async with (
        serve(app) as url,
        httpx.AsyncClient(base_url=url, timeout=DEADLINE_S) as api,
        contextlib.AsyncExitStack() as stack,
    ):
        state = app.state.peakline  # type: ignore[attr-defined]
        per_key = state.settings.max_streams_per_key
        lines = []
        for _ in range(per_key):
            resp = await stack.enter_async_context(
                api.stream("GET", "/api/v1/stream", headers=auth)
            )
            assert resp.status_code == 200
            it = resp.aiter_lines()
            assert (await anext(it)).startswith("retry:")  # subscribed
            lines.append(it)
        fifth = await api.get("/api/v1/stream", headers=auth)
        assert fifth.status_code == 429, fifth.text
        assert fifth.json()["type"].endswith("too-many-streams"), fifth.text
        async with api.stream("GET", "/api/v1/stream", headers=other) as resp:
            assert resp.status_code == 200  # another key has its own allowance
        state.settings = dataclasses.replace(state.settings, max_streams=per_key)
        full = await api.get("/api/v1/stream", headers=other)
        assert full.status_code == 429 and "live streams" in full.json()["detail"]
        with KeyStore(tmp_path / "keys.db") as keys:
            (key,) = [k for k in keys.list() if k.name == "viewer_rt"]
            keys.revoke(key.id)
        for it in lines:  # each open stream of the revoked key says so and ends
            seen = [line async for line in it]
            assert "event: revoked" in seen
