"""Faults injected into firmware-sim travel through the edge agent (a
subprocess polling the simulator over Modbus TCP), a real mosquitto and the ingest service
with its deriver into the store, and come out as anomaly events on the right series at the
right time, both in storage and listed by the API; and the derived energy rows add up to the
meters' counters and come back in the API's emissions report with the site's grid factors.

The simulator runs at 60x so its physics moves between the edge's 0.25 s polls; readings are
stamped by the edge's wall clock, so the injection window is taken in wall time around
`set_fault` (sim duration / speed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import numpy as np
import pytest
import yaml

from firmware_sim import DeviceSpec, Physics, Scenario, Simulation, load_profiles, render, run
from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_api.settings import ApiSettings
from peakline_core.emissions import FactorBook
from peakline_core.storage import RowBlock, SeriesQuery
from peakline_core.storage.schema import ANOMALY_EVENT, ANOMALY_SCORE, ENERGY, READING
from peakline_core.wire import AnomalyEventMessage, TopicKind, Topics
from peakline_ingest.derive import Deriver, DeriveSettings
from peakline_ingest.pipeline import BatchPolicy
from peakline_ingest.processors_anomaly import AnomalyProcessor
from peakline_ingest.service import IngestService, IngestSettings
from peakline_ingest.validate import DeviceIdentity
from peakline_store.sqlite import SqliteStore
from peakline_testing import configs
from peakline_testing.configs import copy_example
from peakline_testing.waiting import eventually
from tests.integration.edge.edge_harness import AgentProcess
from tests.unit.api.api_support import example_config

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[3]
S = 1_000_000_000
SPEED = 60.0
POLL_S = 0.25
FAULT_SIM_S = 120.0  # two simulated minutes = 2 s of wall time at 60x


def scenario() -> Scenario:
    # flat load profiles: the seeded history and the 60x live run look alike to the detectors
    devices = [
        DeviceSpec(id="m-spike", profile="sdm630", physics=Physics(base_kw=40, peak_kw=40)),
        DeviceSpec(id="m-flat", profile="sdm630", physics=Physics(base_kw=30, peak_kw=30)),
    ]
    return Scenario(name="faults", seed=5, speed=SPEED, physics_step_s=1,
                    start=datetime(2025, 1, 6, 8, tzinfo=UTC), devices=devices)  # fmt: skip


def write_config(root: Path, broker: str, prefix: str, sim: Simulation) -> None:
    copy_example(root, "profiles", "emission-factors")
    region = yaml.safe_load((REPO / "config/sites.yaml").read_text())["sites"][0]["grid_region"]

    def device(name: str) -> dict[str, Any]:
        ep = sim.endpoints[name]
        return {
            "id": name, "site": "s1", "agent": "gw1", "profile": "sdm630",
            "poll_interval_s": POLL_S,
            "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": ep.port,
                           "unit_id": ep.unit_id, "timeout_s": 1, "retries": 1},
        }  # fmt: skip

    configs.write_config_dir(
        root,
        sites=[
            # the meters turn 60x faster than real time: 40 kW simulated is 2.4 MW on the edge's
            # wall-clock stamps
            configs.site(name="S1", floor_area_m2=2000, grid_region=region, max_demand_kw=10_000)
        ],
        agents=[configs.agent(broker, prefix)],
        devices=[device("m-spike"), device("m-flat")],
    )


HISTORY_DAYS = 8
HISTORY_STEP_S = 300


def seed_history(topics: Topics, state_dir: Path, platform: Any) -> None:
    """Eight days of firmware-sim history, stamped up to now, scored by the processor and
    saved to its state dir: the worker starts as if restarted after a week of service.

    The seasonal detectors (flatline's per-hour change probability among them) need a
    quarter of an hour of readings in the current hour-of-day bin before they speak; the
    test cannot wait that long in wall time, and the edge stamps readings in wall time."""
    processor = AnomalyProcessor.restore(topics, state_dir, platform)
    sc = scenario()
    n = HISTORY_DAYS * 86400 // HISTORY_STEP_S
    start = int(sc.start.timestamp()) * S
    history = render(sc, load_profiles(REPO / "config/profiles"), start,
                     start + n * HISTORY_STEP_S * S, HISTORY_STEP_S)  # fmt: skip
    now = time.time_ns()
    wall = now - (n - np.arange(n, dtype=np.int64)) * HISTORY_STEP_S * S
    keys = [k for k in history.keys if np.isfinite(history.values[k]).all()]
    series = [{"site": "s1", "device": d, "point": p} for d, p in keys]
    block = RowBlock(
        READING, series, np.repeat(np.arange(len(keys)), n),
        {"value": np.concatenate([history.values[k] for k in keys]),
         "quality": np.zeros(n * len(keys), np.int64)},
        np.tile(wall, len(keys)),
    )  # fmt: skip
    out = processor.process([], block)
    assert not [r for r in out.rows if r.measurement == ANOMALY_EVENT and r.ts > now - 3600 * S]
    processor.close()


@dataclass
class Rig:
    sim: Simulation
    store: SqliteStore
    api: httpx.AsyncClient
    heard: list[AnomalyEventMessage]
    agent: AgentProcess
    platform: Any
    service: IngestService


@pytest.fixture
async def rig(tmp_path: Path, mosquitto: Any, topic_prefix: str) -> AsyncIterator[Rig]:
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(
            run(scenario(), load_profiles(REPO / "config/profiles"))
        )
        root = tmp_path / "config"
        write_config(root, mosquitto.url, topic_prefix, sim)
        platform = example_config(root)
        store = SqliteStore(tmp_path / "store.db")
        stack.push_async_callback(store.aclose)
        topics = Topics(topic_prefix)
        seed_history(topics, tmp_path / "ingest" / "anomaly", platform)
        anomaly = AnomalyProcessor.restore(topics, tmp_path / "ingest" / "anomaly", platform)
        deriver = Deriver.from_config(
            # 5-second windows: the test's minute or so of data closes several of them
            store, platform, DeriveSettings(window_s=5, lateness_s=2.0, tick_s=0.5),
            tmp_path / "ingest" / "derive", anomaly,
        )  # fmt: skip
        settings = IngestSettings(
            broker_url=mosquitto.url, topic_prefix=topic_prefix, share_group=None,
            client_id=f"ingest-{topic_prefix}", state_dir=tmp_path / "ingest",
            policy=BatchPolicy(batch_delay_s=0.2), lateness_s=2.0,
        )  # fmt: skip
        devices = {d.id: DeviceIdentity(d.site, d.agent) for d in platform.devices.values()}
        stop = asyncio.Event()
        service = IngestService(settings, store, devices, deriver=deriver)
        worker = asyncio.create_task(service.run(stop))

        async def stop_worker() -> None:
            stop.set()
            await asyncio.wait_for(worker, 30)

        stack.push_async_callback(stop_worker)
        mqtt = await stack.enter_async_context(aiomqtt.Client(mosquitto.host, mosquitto.port))
        await mqtt.subscribe(topics.filter(TopicKind.EVENT), qos=1)
        heard: list[AnomalyEventMessage] = []

        async def listen() -> None:
            import msgspec

            async for m in mqtt.messages:
                assert isinstance(m.payload, bytes)
                heard.append(msgspec.json.decode(m.payload, type=AnomalyEventMessage))

        listener = asyncio.create_task(listen())
        stack.callback(listener.cancel)
        agent = AgentProcess(root, tmp_path / "state", tmp_path / "agent.log")
        agent.start()
        stack.callback(agent.stop_quietly)
        keys_db = tmp_path / "keys.db"
        with KeyStore(keys_db) as keys:
            token = keys.create("op", Role.OPERATOR, ["c1"])[1]
        api_settings = ApiSettings(config_dir=root, store_url="sqlite:///unused",
                                   keys_db=keys_db, dashboard=False)  # fmt: skip
        app = create_app(api_settings, store=store, config=platform)
        await stack.enter_async_context(app.router.lifespan_context(app))
        api = await stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://api",
                headers={"Authorization": f"Bearer {token}"},
            )
        )
        yield Rig(sim, store, api, heard, agent, platform, service)


async def readings(store: SqliteStore, device: str, point: str) -> list[int]:
    now = time.time_ns()
    q = SeriesQuery(READING, "value", now - 600 * S, now + 60 * S,
                    where={"device": [device], "point": [point]})  # fmt: skip
    found = await store.query(q)
    return list(found[0].times) if found else []


async def diagnose(store: SqliteStore, windows: dict[str, tuple[str, int, int]]) -> str:
    """What the store holds around each fault window (for a failure message)."""
    now = time.time_ns()
    lines = []
    for device, (kind, start, end) in windows.items():
        where = {"device": [device], "point": ["power_total"]}
        sc = await store.query(
            SeriesQuery(ANOMALY_SCORE, "score", start - 5 * S, end + 5 * S, where)
        )
        ev = await store.query(
            SeriesQuery(ANOMALY_EVENT, "points", now - 600 * S, now + S, {"device": [device]})
        )
        rd = await store.query(SeriesQuery(READING, "value", start - 3 * S, end + 3 * S, where))
        scores = [round(v, 2) for s in sc for v in s.values]
        values = [round(v) for s in rd for v in s.values]
        events = [
            (s.tags["kind"], s.tags["point"], p, (t - start) / S)
            for s in ev
            for t, p in zip(s.times, s.values, strict=True)
        ]
        lines.append(f"{device} {kind}: scores {scores} values {values} events {events}")
    return "; ".join(lines)


async def test_injected_faults_are_found_in_storage_and_the_api(rig: Rig) -> None:
    sim, store, api = rig.sim, rig.store, rig.api

    async def warmed() -> bool:  # enough clean history for the detectors to calibrate
        counts = [len(await readings(store, d, "power_total")) for d in ("m-spike", "m-flat")]
        return min(counts) >= 120

    await eventually(warmed, 90, "a clean history of both meters", every_s=0.2)
    windows = {}
    for kind, device in (("spike", "m-spike"), ("flatline", "m-flat")):
        before = time.time_ns()
        params: dict[str, Any] = {"magnitude": 5.0} if kind == "spike" else {}
        sim.set_fault(kind, device, "power_total", duration_s=FAULT_SIM_S, **params)
        windows[device] = (kind, before, time.time_ns() + int(FAULT_SIM_S / SPEED * S))
    truth = {(f.device, f.point, f.kind) for f in sim.ground_truth}
    assert {("m-spike", "power_total", "spike"), ("m-flat", "power_total", "flatline")} <= truth

    async def stored_events() -> list[tuple[str, str, int]]:
        now = time.time_ns()
        q = SeriesQuery(ANOMALY_EVENT, "state", now - 600 * S, now + 60 * S,
                        where={"point": ["power_total"]})  # fmt: skip
        return [
            (s.tags["device"], s.tags["kind"], t) for s in await store.query(q) for t in s.times
        ]

    def in_window(device: str, t: int) -> bool:
        _, start, end = windows[device]
        return start - 2 * S <= t <= end + 2 * S

    async def found() -> bool:  # the right series, the right time and the fault's own kind
        events = await stored_events()
        return all(
            any(d == dev and k == windows[dev][0] and in_window(dev, t) for d, k, t in events)
            for dev in windows
        )

    try:
        await eventually(
            found, 60, "an event on each faulted series inside its window", every_s=0.2
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {await diagnose(store, windows)}") from None
    # Through the API: the same events, on the right series.
    r = await api.get("/api/v1/anomalies", params={"start": "-1h", "site": "s1"})
    assert r.status_code == 200, r.text
    listed = r.json()["items"]
    for device in windows:
        mine = [
            e
            for e in listed
            if e["device"] == device
            and e["point"] == "power_total"
            and e["kind"] == windows[device][0]
        ]
        starts = [datetime.fromisoformat(e["start"].replace("Z", "+00:00")) for e in mine]
        assert any(in_window(device, int(s.timestamp() * 1e9) // 1000 * 1000) for s in starts), (
            device,
            mine,
            windows[device],
        )
    # Scores are stored for every series and served by the API.
    now = time.time_ns()
    scores = await store.query(SeriesQuery(ANOMALY_SCORE, "score", now - 600 * S, now + S))
    assert {s.tags["device"] for s in scores} >= {"m-spike", "m-flat"}
    r = await api.get("/api/v1/anomalies/scores", params={"start": "-1h", "site": "s1"})
    assert r.status_code == 200 and r.json()["series"], r.text
    # The events went out on the event topic too.
    await eventually(
        lambda: {e.device for e in rig.heard} >= set(windows),
        30,
        "event messages",
        every_s=0.2,
    )
    await energy_and_emissions(rig)


async def energy_and_emissions(rig: Rig) -> None:
    """Issue 7 and 17: the derived energy rows add up to the meters' counters over the
    windows written (a straight line between readings at the window edges), and the API's
    emissions report serves them with the site's grid factors."""
    store = rig.store
    assert await rig.agent.terminate() == 0  # no new readings: the store settles
    now = time.time_ns()
    span = (now - 600 * S, now + 60 * S)
    where = {"point": ["import_energy"]}
    expected: dict[str, float] = {}
    derived: dict[str, float] = {}
    registry = rig.service.metrics.registry
    seen: list[float] = []

    async def settled() -> bool:
        # The stream has drained (nothing in flight, no reading stored for the last three
        # checks) and the deriver has closed every window up to the last readings.
        seen.append(registry.get_sample_value("peakline_ingest_readings_total") or 0.0)
        if (
            registry.get_sample_value("peakline_ingest_in_flight_messages")
            or len(set(seen[-4:])) != 1
            or len(seen) < 4
        ):
            return False
        found = await store.query(SeriesQuery(READING, "value", *span, where=where))
        energy = await store.query(SeriesQuery(ENERGY, "kwh", *span, where={"flow": ["import"]}))
        expected.clear()
        derived.clear()
        for s in energy:
            device = s.tags["device"]
            counter = next(c for c in found if c.tags["device"] == device)
            ts = np.asarray(counter.times, dtype=np.float64)
            lo, hi = min(s.times), max(s.times) + 5 * S
            if hi > ts[-1]:
                return False  # the last reading's window is still open
            v = np.asarray(counter.values, dtype=np.float64)
            expected[device] = float(np.interp(hi, ts, v) - np.interp(lo, ts, v))
            derived[device] = float(sum(s.values))
        return len(derived) == 2 and all(
            derived[d] == pytest.approx(expected[d], rel=1e-6) for d in derived
        )

    try:
        await eventually(
            settled, 60, "energy rows equal to the import counters' increase", every_s=0.2
        )
    except AssertionError as exc:
        energy = await store.query(SeriesQuery(ENERGY, "kwh", *span))
        d = rig.service.deriver
        raise AssertionError(
            f"{exc}: derived {derived}, counters {expected}, seen {seen[-5:]},"
            f" energy {[(e.tags, len(e.times)) for e in energy]},"
            f" wm {d and d.watermark}, now {time.time_ns()},"
            f" tracks {d and [(k, t.last_ts, t.counter) for k, t in d.tracks.items()]}"
        ) from None
    imported = sum(derived.values())
    assert imported > 0
    book = FactorBook(rig.platform.factor_sets.values())
    region = rig.platform.sites["s1"].grid_region
    year = datetime.now(UTC).year
    r = await rig.api.get("/api/v1/reports/emissions", params={"site": "s1", "start": "-1h"})
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert item["energy_kwh"]["import"] == pytest.approx(imported, rel=1e-6)
    assert item["energy_quality"]["suspect_kwh"] == 0
    location = item["emissions_kgco2e"]["location"]["2"]
    assert location == pytest.approx(imported * book.location_factor(region, year), rel=1e-6)
    market = item["emissions_kgco2e"]["market"]["2"]
    assert market == pytest.approx(imported * book.residual_mix(region, year), rel=1e-6)
