"""Helpers for the API's integration tests: seeded apps on real stores, uvicorn on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from peakline_api.app import create_app
from peakline_api.demo_data import reading_rows, report_rows
from peakline_api.keys import KeyStore, Role
from peakline_api.registry import Registry
from peakline_api.settings import ApiSettings
from peakline_api.statedb import open_postgres
from peakline_core.config import PlatformConfig
from peakline_store.open import open_store
from tests.unit.api.api_support import HOUR, KEYS, NOW_NS, example_config

__all__ = ["HOUR", "NOW_NS", "example_config"]


@dataclass
class LiveApi:
    client: httpx.AsyncClient
    tokens: dict[str, str]
    app: object

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def get(self, who: str, url: str, **kw: object) -> httpx.Response:
        return await self.client.get(url, headers=self.headers(who), **kw)  # type: ignore[arg-type]


async def build(
    tmp_path: Path,
    config: PlatformConfig,
    store_url: str,
    broker_url: str | None = None,
    topic_prefix: str = "peakline",
    seed: bool = True,
    now_ns: int | None = NOW_NS,
    state_url: str | None = None,
) -> tuple[object, dict[str, str]]:
    """An app on `store_url` seeded up to `now_ns` (None: the real clock, for live pages);
    its state in the PostgreSQL database `state_url` (keys included), else SQLite files in
    `tmp_path`."""
    registry = Registry.from_config(config)
    now = now_ns if now_ns is not None else time.time_ns() // 60_000_000_000 * 60_000_000_000
    if seed:
        store = open_store(store_url)
        try:
            await store.write(list(reading_rows(registry, now - 2 * HOUR, now, 60)))
            await store.write(list(report_rows(registry, now - 48 * HOUR, now)))
        finally:
            await store.aclose()
    keys_db = tmp_path / "keys.db"
    tokens = {}
    with contextlib.ExitStack() as stack:
        where = stack.enter_context(open_postgres(state_url)) if state_url else keys_db
        keys = stack.enter_context(KeyStore(where))
        for name, (role, cities) in KEYS.items():
            tokens[name] = keys.create(name, role, cities)[1]
    settings = ApiSettings(
        config_dir=config.root,
        store_url=store_url,
        keys_db=keys_db,
        state_url=state_url,
        broker_url=broker_url,
        topic_prefix=topic_prefix,
        stream_heartbeat_s=0.5,
    )
    clock = None if now_ns is None else (lambda: now_ns)
    return create_app(settings, config=config, clock_ns=clock), tokens


__all__ += ["KEYS", "Role", "build"]


@contextlib.asynccontextmanager
async def serve(app: object) -> AsyncIterator[str]:
    """Run the app under uvicorn on a free loopback port (real HTTP, streaming); yields its URL."""
    import uvicorn

    from peakline_testing.servers import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            lifespan="on",
            log_config=None,  # type: ignore[arg-type]
            access_log=False,
        )
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


__all__ += ["serve"]
