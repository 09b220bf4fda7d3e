"""Operator feedback end to end (issue 18): telemetry through a real mosquitto to two ingest
workers on a shared subscription (one runs the deriver) into a real influxd. An over-voltage
opens an event; an operator marks it a false alarm through the API; the same over-voltage
again opens none (it is still scored, and stored), while a much worse one still opens an
event. The deriver reads the verdict from influxd, not from the API.

The deriver runs on the test's clock (readings are stamped an hour back), so the test says
when each stretch of readings is due to be scored instead of waiting for wall time."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from peakline_api.keys import Role
from peakline_core.anomaly import AnomalyConfig, AnomalyEngine
from peakline_core.storage import SeriesQuery
from peakline_core.storage.schema import ANOMALY_FEEDBACK, ANOMALY_SCORE, READING
from peakline_core.wire import Reading, TelemetryBatch, Topics
from peakline_ingest.derive import Deriver, DeriveSettings
from peakline_ingest.pipeline import BatchPolicy
from peakline_ingest.processors_anomaly import AnomalyProcessor, register_profiles
from peakline_ingest.service import IngestService, IngestSettings
from peakline_ingest.validate import DeviceIdentity
from peakline_store.influx import InfluxStore
from peakline_testing import configs
from peakline_testing.configs import copy_example
from peakline_testing.waiting import eventually
from tests.integration.ingest.support import Publisher, telemetry
from tests.integration.pipeline.api_client import api_client
from tests.unit.api.api_support import example_config

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[3]
S = 1_000_000_000
N = 120  # readings per stretch, one a second


def stretch(t0: int, seq0: int, faults: dict[int, float]) -> list[TelemetryBatch]:
    """N one-second batches of the meter's phase voltages; `faults` sets voltage_l1."""
    rng = np.random.default_rng(seq0)
    out = []
    for i in range(N):
        t = t0 + i * S
        l1 = faults.get(i, 230.0 + rng.normal(0, 1.0))
        out.append(TelemetryBatch("gw1", "s1", "m1", seq0 + i, t, [
            Reading("voltage_l1", t, float(l1)),
            Reading("voltage_l2", t, float(230.0 + rng.normal(0, 1.0))),
        ]))  # fmt: skip
    return out


async def test_a_false_alarm_silences_its_pattern_and_a_worse_fault_still_raises(
    tmp_path: Path, mosquitto: Any, influx_db: Any, topic_prefix: str
) -> None:
    root = tmp_path / "config"
    copy_example(root, "profiles")
    configs.write_config_dir(
        root,
        sites=[configs.site(name="S1", floor_area_m2=2000)],
        agents=[configs.agent(mosquitto.url, topic_prefix)],
        devices=[{"id": "m1", "site": "s1", "agent": "gw1", "profile": "sdm630",
                  "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": 1502}}],
    )  # fmt: skip
    platform = example_config(root)
    t0 = time.time_ns() - 3600 * S
    t0 -= t0 % S
    clock = [t0]  # the deriver's and the API's now (UTC ns)
    topics = Topics(topic_prefix)
    engine = AnomalyEngine(AnomalyConfig(event_quiet_s=0.0, event_quiet_readings=3))
    register_profiles(engine, platform)
    anomaly = AnomalyProcessor(topics, engine)
    async with AsyncExitStack() as stack:
        store = InfluxStore(influx_db.url, influx_db.database)
        stack.push_async_callback(store.aclose)
        deriver = Deriver.from_config(
            store, platform, DeriveSettings(window_s=5, lateness_s=1.0, tick_s=0.1,
                                            feedback_s=0.0),
            None, anomaly, energy=False,
        )  # fmt: skip
        deriver.clock_ns = lambda: clock[0]
        deriver.start_at(t0 - S)
        ids = {d.id: DeviceIdentity(d.site, d.agent) for d in platform.devices.values()}
        stop = asyncio.Event()
        workers, services = [], []
        for name, derive in (("w1", deriver), ("w2", None)):
            settings = IngestSettings(
                broker_url=mosquitto.url, topic_prefix=topic_prefix,
                share_group=f"g{topic_prefix}", client_id=f"{name}-{topic_prefix}",
                state_dir=tmp_path / name, policy=BatchPolicy(batch_delay_s=0.1),
                lateness_s=1.0, restart_guard=False,
            )  # fmt: skip
            service = IngestService(settings, store, ids, deriver=derive)
            services.append(service)
            workers.append(asyncio.create_task(service.run(stop)))

        async def stop_workers() -> None:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*workers), 30)

        stack.push_async_callback(stop_workers)
        key = ("duty", Role.OPERATOR, ["c1"])
        api = await api_client(stack, tmp_path, root, store, platform, lambda: clock[0], key)
        for service in services:  # a shared subscription keeps nothing published before it
            await eventually(lambda s=service: _ready(s), 60, "the workers subscribed")
        publisher = Publisher(mosquitto.url)
        stack.callback(publisher.close)

        async def stored_readings() -> int:
            span = SeriesQuery(READING, "value", t0 - S, t0 + 3600 * S, where={"device": ["m1"]})
            return sum(len(s.times) for s in await store.query(span))

        async def scored_until(end: int) -> None:
            """Let the deriver score every reading before `end` (UTC ns)."""
            clock[0] = end + 2 * S  # lateness 1 s
            await eventually(
                lambda: deriver.watermark is not None and deriver.watermark >= end, 60,
                "the deriver caught up", every_s=0.05,
            )  # fmt: skip

        async def events() -> list[dict[str, Any]]:
            r = await api.get("/api/v1/anomalies", params={"start": "-2d", "device": "m1"})
            assert r.status_code == 200, r.text
            return sorted(r.json()["items"], key=lambda e: e["start"])

        # 1. an over-voltage (500 V on a 0..480 V point) opens an event
        first = stretch(t0, 1, {60: 500.0})
        await asyncio.to_thread(publisher.publish, telemetry(topics, first))
        await eventually(lambda: _at_least(stored_readings, 2 * N), 60, "stretch 1 stored")
        await scored_until(t0 + N * S)
        [event] = await events()
        assert event["kind"] == "limit" and event["start"] == _iso(t0 + 60 * S)
        assert event["verdict"] is None

        # 2. the operator dismisses it through the API
        verdict = {"verdict": "false_alarm", "note": "meter test, 500 V expected"}
        r = await api.post(f"/api/v1/anomalies/{event['event_id']}/feedback", json=verdict)
        assert r.status_code == 200, r.text
        fb = await store.query(SeriesQuery(ANOMALY_FEEDBACK, "verdict", t0, t0 + 3600 * S))
        assert [s.values for s in fb] == [["false_alarm"]]

        # 3. the same over-voltage again (and a milder one) opens nothing; 700 V still does
        t1 = t0 + N * S + 10 * S
        second = stretch(t1, 1 + N, {30: 500.0, 50: 496.0, 90: 700.0})
        await asyncio.to_thread(publisher.publish, telemetry(topics, second))
        await eventually(lambda: _at_least(stored_readings, 4 * N), 60, "stretch 2 stored")
        await scored_until(t1 + N * S)
        got = await events()
        assert [(e["kind"], e["start"]) for e in got] == [
            ("limit", _iso(t0 + 60 * S)),
            ("limit", _iso(t1 + 90 * S)),
        ]
        assert got[0]["verdict"] == "false_alarm" and got[1]["verdict"] is None
        # the dismissed pattern was still scored and stored: it just raised no event
        (score,) = await store.query(
            SeriesQuery(ANOMALY_SCORE, "score", t1 + 30 * S, t1 + 31 * S,
                        where={"point": ["voltage_l1"]})
        )  # fmt: skip
        assert score.values == [1.0]
        r = await api.get("/api/v1/anomalies/feedback/summary", params={"start": "-2d"})
        assert r.json()["by_kind"] == [
            {"key": "limit", "events": 2, "confirmed": 0, "false_alarm": 1, "explained": 0}
        ]


async def _ready(service: IngestService) -> bool:
    return (await service.ready())[0]


async def _at_least(count: Any, n: int) -> bool:
    return int(await count()) >= n


def _iso(ns: int) -> str:
    from peakline_api.timespec import iso

    return iso(ns)
