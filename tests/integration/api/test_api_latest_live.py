"""Latest values from the live feed (issue 21): with a broker, `readings/latest` and the
overview's grid intensity answer from the API's in-memory table, seeded from the store when
the API connects and fed by the telemetry and grid messages ingest would store; no store
read per request. Real mosquitto, the SQLite store."""

from __future__ import annotations

import json
import time
from pathlib import Path

import aiomqtt
import httpx
import pytest

from peakline_core.wire.payloads import Reading, TelemetryBatch, encode
from peakline_core.wire.topics import Topics
from peakline_store.open import open_store
from peakline_testing.waiting import eventually
from tests.integration.api.api_live_support import build, serve

pytestmark = pytest.mark.asyncio
LATEST = "/api/v1/readings/latest?device=school-meter&point=power_total"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_latest_values_come_from_the_feed_after_a_seed_from_the_store(
    tmp_path: Path, platform_config, store_url: str, mosquitto, topic_prefix: str
) -> None:
    topics = Topics(topic_prefix)
    app, tokens = await build(
        tmp_path, platform_config, store_url, mosquitto.url, topic_prefix, now_ns=None
    )
    auth = {"Authorization": f"Bearer {tokens['viewer_rt']}"}
    store = open_store(store_url)
    [stored] = await store.latest(
        "reading", "value", {"device": ["school-meter"], "point": ["power_total"]}
    )
    async with (
        serve(app) as url,
        httpx.AsyncClient(base_url=url, timeout=10) as api,
        aiomqtt.Client(mosquitto.host, mosquitto.port) as mqtt,
    ):
        state = app.state.peakline  # type: ignore[attr-defined]

        async def live() -> bool:
            return bool(state.hub.connected and state.hub.table.seeded)

        await eventually(live, 10, "the API to connect and seed its table")
        # Seeded: the store's newest value, answered from memory.
        [item] = (await api.get(LATEST, headers=auth)).json()["items"]
        assert (item["t_ms"], item["value"]) == (stored.times[-1] // 10**6, stored.values[-1])
        assert state.latest.answered["store"] == 0

        now = time.time_ns()
        newer = TelemetryBatch(
            agent="gw-oldtown", site="rt-school", device="school-meter", seq=99, sent=now,
            readings=[Reading(point="power_total", ts=now, value=43210.0)],
        )  # fmt: skip
        forged = TelemetryBatch(  # the Lakeside gateway cannot speak for a Riverton meter
            agent="gw-lakeside", site="rt-school", device="school-meter", seq=1, sent=now,
            readings=[Reading(point="power_total", ts=now + 10**9, value=-1.0)],
        )  # fmt: skip
        future = TelemetryBatch(  # ingest refuses a reading an hour ahead: so does the table
            agent="gw-oldtown", site="rt-school", device="school-meter", seq=100, sent=now,
            readings=[Reading(point="power_total", ts=now + 3600 * 10**9, value=-2.0)],
        )  # fmt: skip
        for batch in (forged, future, newer):
            await mqtt.publish(topics.telemetry("rt-school", "school-meter"), encode(batch), qos=1)
        grid = {"region": "CN-EAST", "ts": now, "intensity_g_per_kwh": 612.5}
        await mqtt.publish(topics.grid("CN-EAST"), json.dumps(grid).encode(), qos=1)

        async def fed() -> bool:
            [item] = (await api.get(LATEST, headers=auth)).json()["items"]
            return bool(item["value"] == 43210.0)

        await eventually(fed, 10, "the published reading in readings/latest")
        overview = {s["id"]: s for s in (await api.get("/api/v1/overview", headers=auth)).json()}
        assert overview["rt-school"]["carbon_intensity_g_per_kwh"] == 612.5
        assert state.latest.answered["store"] == 0 and state.latest.answered["table"] >= 3
        # Nothing was written: the store still holds its own newest value.
        [again] = await store.latest(
            "reading", "value", {"device": ["school-meter"], "point": ["power_total"]}
        )
        assert again.values[-1] == stored.values[-1]
    await store.aclose()
