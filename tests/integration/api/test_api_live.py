"""Live status and the SSE stream through a real mosquitto, with the SQLite store."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiomqtt
import httpx
import pytest

from peakline_core.wire.payloads import DeviceStatus, Reading, TelemetryBatch, encode
from peakline_core.wire.topics import Topics
from peakline_testing.waiting import eventually
from tests.integration.api.api_live_support import build, serve

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_status_and_stream_follow_the_broker(
    tmp_path: Path, platform_config, store_url: str, mosquitto, topic_prefix: str
) -> None:
    topics = Topics(topic_prefix)
    app, tokens = await build(
        tmp_path, platform_config, store_url, mosquitto.url, topic_prefix, seed=False
    )
    auth = {"Authorization": f"Bearer {tokens['viewer_rt']}"}
    now = time.time_ns()
    async with (
        serve(app) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as api,
        aiomqtt.Client(mosquitto.host, mosquitto.port) as mqtt,
    ):
        status = DeviceStatus(
            agent="gw-oldtown", site="rt-school", device="school-meter", state="online", ts=now
        )
        await mqtt.publish(
            topics.status("rt-school", "school-meter"), encode(status), qos=1, retain=True
        )

        async def online() -> bool:
            r = await api.get("/api/v1/devices/school-meter", headers=auth)
            return r.json()["status"]["state"] == "online"

        await eventually(online, 10, "retained status to reach the API")
        ready = await api.get("/ready")
        assert ready.json()["checks"]["broker"] == "ok"

        received: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()

        async def read_stream() -> None:
            async with api.stream("GET", "/api/v1/stream?site=rt-school", headers=auth) as resp:
                assert resp.status_code == 200
                event = ""
                async for line in resp.aiter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        await received.put((event, json.loads(line[6:])))

        reader = asyncio.create_task(read_stream())
        try:
            batch = TelemetryBatch(
                agent="gw-oldtown",
                site="rt-school",
                device="school-meter",
                seq=1,
                sent=now,
                readings=[Reading(point="power_total", ts=now, value=41250.0)],
            )
            other = TelemetryBatch(
                agent="gw-lakeside",
                site="lk-townhall",
                device="townhall-meter",
                seq=1,
                sent=now,
                readings=[Reading(point="power_total", ts=now, value=1.0)],
            )
            deadline = time.monotonic() + 10
            event, data = "", {}
            while event != "readings":
                # Re-publish until the stream's subscription is in place (no fixed sleep).
                await mqtt.publish(topics.telemetry("lk-townhall", "townhall-meter"), encode(other))
                await mqtt.publish(topics.telemetry("rt-school", "school-meter"), encode(batch))
                try:
                    event, data = await asyncio.wait_for(received.get(), 0.5)
                except TimeoutError:
                    assert time.monotonic() < deadline, "no readings event on the stream"
            assert data["site"] == "rt-school"  # the lakeside batch never reaches a riverton key
            assert data["readings"][0]["value"] == 41250.0
        finally:
            reader.cancel()
        device = (await api.get("/api/v1/devices/school-meter", headers=auth)).json()
        assert device["status"]["quality"] == "good" and device["status"]["last_seen"]
