"""An incident a command explains, end to end (issue 18): two HVAC controllers' telemetry
through a real mosquitto to an ingest worker whose deriver scores it from a real influxd. A
day and more of history heating at ~150 kW with the setpoint at 21.0 degC; then on `h1` the
setpoint goes to 19.0 (a demand-response event) and its heating power falls to 11 kW, and on
`h2` the heating power falls the same way with its setpoint unchanged. The API lists `h1`'s
incident with the setpoint change as its cause and `h2`'s without one; both say truly what
was expected (the spike model's band, not the range held) and what was seen.

The deriver runs on the test's clock (readings are stamped a day and more back)."""

from __future__ import annotations

import asyncio
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from peakline_api.keys import Role
from peakline_api.timespec import iso
from peakline_core.storage import SeriesQuery
from peakline_core.storage.schema import READING
from peakline_core.wire import Reading, TelemetryBatch, Topics
from peakline_ingest.derive import Deriver, DeriveSettings
from peakline_ingest.pipeline import BatchPolicy
from peakline_ingest.processors_anomaly import AnomalyProcessor
from peakline_ingest.service import IngestService, IngestSettings
from peakline_ingest.validate import DeviceIdentity
from peakline_store.influx import InfluxStore
from peakline_testing import configs
from peakline_testing.configs import copy_example
from peakline_testing.waiting import eventually
from tests.integration.ingest.support import Publisher, telemetry
from tests.integration.pipeline.api_client import api_client
from tests.unit.api.api_support import example_config

pytestmark = pytest.mark.timeout(300)
S = 1_000_000_000
STEP = 300  # a poll every 5 minutes
HISTORY = 28 * 12  # polls before the event (28 h: statistical events open after 25 h)
AFTER = 8  # polls after it (40 minutes, the setpoint held at 19.0)


def polls(device: str, t0: int, commanded: bool, seq0: int) -> list[TelemetryBatch]:
    """The device's polls (one agent: its sequence numbers go on from `seq0`)."""
    rng = np.random.default_rng(seq0)
    out = []
    for i in range(HISTORY + AFTER):
        t = t0 + i * STEP * S
        day = np.sin(2 * np.pi * i * STEP / 86400)
        power = 150_000 + 8_000 * day + rng.normal(0, 2_000)
        setpoint = 21.0
        if i >= HISTORY:
            power = 10_880 + rng.normal(0, 100)
            setpoint = 19.0 if commanded else 21.0
        out.append(TelemetryBatch("gw1", "s1", device, seq0 + i, t, [
            Reading("setpoint", t, setpoint, unit="degC"),
            Reading("heating_power", t, float(round(power / 10) * 10), unit="W"),
        ]))  # fmt: skip
    return out


async def test_the_commanded_devices_incident_is_explained_and_the_others_is_not(
    tmp_path: Path, mosquitto: Any, influx_db: Any, topic_prefix: str
) -> None:
    root = tmp_path / "config"
    copy_example(root, "profiles")
    hvac = {"site": "s1", "agent": "gw1", "profile": "hvac-controller", "poll_interval_s": STEP}
    configs.write_config_dir(
        root,
        sites=[configs.site(name="S1", floor_area_m2=12000)],
        agents=[configs.agent(mosquitto.url, topic_prefix)],
        devices=[
            {"id": d, **hvac, "connection": {"driver": "modbus-tcp", "host": "127.0.0.1",
                                             "port": 1502 + n}}
            for n, d in enumerate(("h1", "h2"))
        ],
    )  # fmt: skip
    platform = example_config(root)
    now = time.time_ns()
    t0 = now - now % (STEP * S) - (HISTORY + AFTER + 12) * STEP * S
    t_dr = t0 + HISTORY * STEP * S
    clock = [t0]  # the deriver's and the API's now (UTC ns)
    topics = Topics(topic_prefix)
    async with AsyncExitStack() as stack:
        store = InfluxStore(influx_db.url, influx_db.database)
        stack.push_async_callback(store.aclose)
        anomaly = AnomalyProcessor.restore(topics, tmp_path / "anomaly", platform)
        deriver = Deriver.from_config(
            store, platform, DeriveSettings(window_s=60, lateness_s=1.0, tick_s=0.1),
            None, anomaly, energy=False,
        )  # fmt: skip
        deriver.clock_ns = lambda: clock[0]
        deriver.start_at(t0 - S)
        ids = {d.id: DeviceIdentity(d.site, d.agent) for d in platform.devices.values()}
        stop = asyncio.Event()
        settings = IngestSettings(
            broker_url=mosquitto.url, topic_prefix=topic_prefix, share_group=None,
            client_id=f"w1-{topic_prefix}", state_dir=tmp_path / "w1",
            policy=BatchPolicy(batch_delay_s=0.1), lateness_s=1.0, restart_guard=False,
        )  # fmt: skip
        service = IngestService(settings, store, ids, deriver=deriver)
        worker = asyncio.create_task(service.run(stop))

        async def stop_worker() -> None:
            stop.set()
            await asyncio.wait_for(worker, 30)

        stack.push_async_callback(stop_worker)
        key = ("viewer", Role.VIEWER, ["c1"])
        api = await api_client(stack, tmp_path, root, store, platform, lambda: clock[0], key)
        await eventually(lambda: _ready(service), 60, "the worker subscribed")
        publisher = Publisher(mosquitto.url)
        stack.callback(publisher.close)
        batches = polls("h1", t0, True, 1) + polls("h2", t0, False, 1 + HISTORY + AFTER)
        await asyncio.to_thread(publisher.publish, telemetry(topics, batches))

        async def stored() -> bool:
            span = SeriesQuery(READING, "value", t0 - S, now + S, where={"point": ["setpoint"]})
            return sum(len(s.times) for s in await store.query(span)) >= len(batches)

        await eventually(stored, 60, "every poll stored")
        end = t0 + (HISTORY + AFTER) * STEP * S
        clock[0] = end + 2 * S  # lateness 1 s
        await eventually(
            lambda: deriver.watermark is not None and deriver.watermark >= end, 120,
            "the deriver caught up", every_s=0.05,
        )  # fmt: skip

        r = await api.get("/api/v1/anomalies", params={"start": "-3d"})
        assert r.status_code == 200, r.text
        by_device: dict[str, list[dict[str, Any]]] = {}
        for e in r.json()["items"]:
            by_device.setdefault(e["device"], []).append(e)
        assert set(by_device) == {"h1", "h2"}, by_device
        for device, listed in by_device.items():
            for e in listed:
                assert t_dr <= _ns(e["start"]) <= t_dr + 1800 * S, e
                assert e["point"] == "heating_power" and e["kind"] in ("spike", "novelty"), e
                assert not e["expected_low"] <= e["seen"] <= e["expected_high"], e
                if e["kind"] == "spike":  # the model's band holds the usual ~150 kW
                    assert e["expected_low"] < 140_000 and e["expected_high"] > 160_000, e
                if device == "h1":
                    assert e["cause"] == {
                        "point": "setpoint", "before": 21.0, "after": 19.0, "at": iso(t_dr),
                    }, e  # fmt: skip
                else:
                    assert e["cause"] is None, e


async def _ready(service: IngestService) -> bool:
    return (await service.ready())[0]


def _ns(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * S
