"""Issue 26 end to end: firmware-sim's boiler house (gas m3, coal t) and heat meter (GJ), a
chiller's refrigerant record, through the edge agent (subprocess), a real mosquitto and
ingest with its deriver into the store; the API's yearly inventory carries the fuel and
heat the counters measured, times the factor book's factors, plus the refrigerant's leak.

At 60x the counters turn 60x faster on the edge's wall-clock stamps; the fuel and heat
sources' sanity cap (FUEL_MAX_PER_H) is far above that."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml

from firmware_sim import DeviceSpec, Physics, Scenario, Simulation, load_profiles, run
from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_api.settings import ApiSettings
from peakline_core.emissions.combustion import FuelBlock, scope1_combustion
from peakline_core.emissions.refrigerants import refrigerant_gwp
from peakline_core.storage import SeriesQuery
from peakline_core.storage.schema import ENERGY, READING
from peakline_ingest.derive import Deriver, DeriveSettings
from peakline_ingest.pipeline import BatchPolicy
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
POLL_S = 0.5
DEVICES = {  # device -> (profile, flow)
    "bh-gas": ("gas-meter", "fuel:natural_gas"),
    "bh-coal": ("coal-weigher", "fuel:raw_coal"),
    "lib-heat": ("heat-meter", "heat:dh"),
    "dc-ups": ("ups-output", "dc:dc-ups"),
    "dc-cool": ("cooling-plant", "dc:dc-cool"),
    "dc-water": ("water-meter", "water:dc-water"),
}
TOP_UP_KG = 7.0


def scenario() -> Scenario:
    devices = [
        DeviceSpec(id="bh-gas", profile="gas-meter",
                   physics=Physics(base_rate_per_h=40.0, heating_rate_per_k=2.0)),
        DeviceSpec(id="bh-coal", profile="coal-weigher", physics=Physics(base_rate_per_h=2.0)),
        DeviceSpec(id="lib-heat", profile="heat-meter", physics=Physics(base_rate_per_h=3.0)),
        DeviceSpec(id="dc-ups", profile="ups-output", physics=Physics(base_rate_per_h=30.0)),
        DeviceSpec(id="dc-cool", profile="cooling-plant", physics=Physics(base_rate_per_h=12.0)),
        DeviceSpec(id="dc-water", profile="water-meter", physics=Physics(base_rate_per_h=0.05)),
    ]  # fmt: skip
    return Scenario(name="inventory", seed=9, speed=SPEED, physics_step_s=1,
                    start=datetime(2025, 1, 6, 8, tzinfo=UTC), devices=devices)  # fmt: skip


def write_config(root: Path, broker: str, prefix: str, sim: Simulation, year: int) -> None:
    copy_example(root, "profiles", "emission-factors")
    region = yaml.safe_load((REPO / "config/sites.yaml").read_text())["sites"][0]["grid_region"]

    def device(name: str) -> dict[str, Any]:
        ep = sim.endpoints[name]
        return {
            "id": name, "site": "s1", "agent": "gw1", "profile": DEVICES[name][0],
            "poll_interval_s": POLL_S,
            "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": ep.port,
                           "unit_id": ep.unit_id, "timeout_s": 1, "retries": 1},
        }  # fmt: skip

    inventory = {
        "fuel_meters": [
            {"id": "gas", "site": "s1", "fuel": "natural_gas", "unit": "m3",
             "device": "bh-gas", "point": "total"},
            {"id": "coal", "site": "s1", "fuel": "raw_coal", "unit": "t",
             "device": "bh-coal", "point": "total"},
        ],
        "heat_networks": [{"id": "dh", "carrier": "heat", "region": "CN"}],
        "heat_meters": [{"id": "heat", "site": "s1", "network": "dh", "unit": "GJ",
                         "device": "lib-heat", "point": "total"}],
        "refrigerant_assets": [{"id": "ch1", "site": "s1", "kind": "chiller",
                                "refrigerant": "R-410A", "charge_kg": 200,
                                "service": [{"date": f"{year}-01-02", "kind": "top_up",
                                             "kg": TOP_UP_KG}]}],
        "data_centres": [{"id": "dc1", "site": "s1", "facility_meters": ["dc-ups", "dc-cool"],
                          "it_meters": ["dc-ups"], "water_meter": "dc-water"}],
    }  # fmt: skip
    configs.write_config_dir(
        root,
        sites=[
            configs.site(name="S1", floor_area_m2=2000, grid_region=region, max_demand_kw=10_000)
        ],
        agents=[configs.agent(broker, prefix)],
        devices=[device(d) for d in DEVICES],
        files={"inventory.yaml": inventory},
    )


@pytest.fixture
async def rig(tmp_path: Path, mosquitto: Any, topic_prefix: str) -> AsyncIterator[Any]:
    year = datetime.now(UTC).year
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(
            run(scenario(), load_profiles(REPO / "config/profiles"))
        )
        root = tmp_path / "config"
        write_config(root, mosquitto.url, topic_prefix, sim, year)
        platform = example_config(root)
        store = SqliteStore(tmp_path / "store.db")
        stack.push_async_callback(store.aclose)
        deriver = Deriver.from_config(
            store, platform, DeriveSettings(window_s=5, lateness_s=2.0, tick_s=0.5),
            tmp_path / "ingest" / "derive",
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
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api",
                              headers={"Authorization": f"Bearer {token}"})
        )  # fmt: skip
        yield store, api, agent, service, platform, year


async def test_inventory_totals_equal_the_counters_times_the_factors(rig: Any) -> None:
    store, api, agent, service, platform, year = rig
    now = time.time_ns()
    span = (now - 600 * S, now + 600 * S)

    async def energy_of(flow: str) -> list[Any]:
        return await store.query(SeriesQuery(ENERGY, "kwh", *span, where={"flow": [flow]}))

    async def some_windows() -> bool:
        counts = [len(await energy_of(f)) for _, f in DEVICES.values()]
        return min(counts) > 0

    await eventually(some_windows, 90, "energy windows of every fuel and heat flow", every_s=0.3)
    assert await agent.terminate() == 0  # no new readings: the store settles
    registry = service.metrics.registry
    seen: list[float] = []
    measured: dict[str, float] = {}
    spans: dict[str, float] = {}

    async def settled() -> bool:
        seen.append(registry.get_sample_value("peakline_ingest_readings_total") or 0.0)
        if len(seen) < 4 or len(set(seen[-4:])) != 1:
            return False
        measured.clear()
        for device, (_, flow) in DEVICES.items():
            rows = await energy_of(flow)
            where = {"device": [device], "point": ["total"]}
            found = await store.query(SeriesQuery(READING, "value", *span, where=where))
            ts = np.asarray(found[0].times, dtype=np.float64)
            v = np.asarray(found[0].values, dtype=np.float64)
            lo = min(t for s in rows for t in s.times)
            hi = max(t for s in rows for t in s.times) + 5 * S
            if hi > ts[-1]:
                return False
            increase = float(np.interp(hi, ts, v) - np.interp(lo, ts, v))
            derived = sum(sum(s.values) for s in rows)
            unit = 1000 / 3.6 if flow.startswith("heat:") else 1000 if device == "dc-water" else 1
            if derived != pytest.approx(increase * unit, rel=1e-6):
                return False
            measured[flow] = increase
            spans[flow] = (hi - lo) / S
        return True

    await eventually(
        settled, 60, "fuel and heat windows equal to the counters' increase", every_s=0.3
    )
    r = await api.get("/api/v1/reports/inventory", params={"level": "site", "year": year})
    assert r.status_code == 200, r.text
    site = next(i for i in r.json()["items"] if i["id"] == "s1")
    book = platform.factor_book()
    gas, coal = measured["fuel:natural_gas"], measured["fuel:raw_coal"]
    block = FuelBlock.from_factors(
        [book.combustion("natural_gas"), book.combustion("raw_coal")], ["m3", "t"], [None, None]
    )
    fuel_kg = float(np.sum(scope1_combustion(np.array([[gas], [coal]]), block).co2e))
    heat_gj = measured["heat:dh"]
    fugitive_kg = TOP_UP_KG * refrigerant_gwp("R-410A", book.gwp).kyoto
    lines1 = site["scope1"]["lines"]
    combustion = sum(x["co2e_kg"] for x in lines1 if x["category"] == "stationary_combustion")
    assert combustion == pytest.approx(fuel_kg, rel=1e-6)
    fugitive = sum(x["co2e_kg"] for x in lines1 if x["category"] == "fugitive_refrigerant")
    assert fugitive == pytest.approx(fugitive_kg)
    heat = next(x for x in site["scope2"]["lines"] if x["carrier"] == "heat")
    assert heat["energy_kwh"] == pytest.approx(heat_gj * 1000 / 3.6, rel=1e-6)
    # the data centre: PUE = (UPS output + cooling) / UPS output, WUE = water L / IT kWh, over
    # the hours all its meters have (the run spans one or two clock hours: all of them)
    (dc,) = r.json()["data_centres"]
    ups, cool, water_m3 = measured["dc:dc-ups"], measured["dc:dc-cool"], measured["water:dc-water"]
    assert dc["id"] == "dc1" and dc["hours_used"] >= 1 and dc["suspect_hours"] == 0, dc
    assert dc["it_kwh"] == pytest.approx(ups, rel=1e-6)
    assert dc["pue"] == pytest.approx((ups + cool) / ups, rel=1e-6)
    # physically 42 kWh/h of facility for 30 of IT, judged on each meter's rate: the meters'
    # windows may cover spans of different lengths when the agent stops (the PUE above is
    # the API's own arithmetic on the same spans)
    rate = {f: measured[f] / spans[f] for f in ("dc:dc-ups", "dc:dc-cool")}
    assert 1.3 < 1 + rate["dc:dc-cool"] / rate["dc:dc-ups"] < 1.5, (rate, spans)
    assert dc["wue_l_per_kwh"] == pytest.approx(water_m3 * 1000 / ups, rel=1e-6)
    # sub-meters are not carriers: neither in the site's lines nor in its completeness
    assert heat["location_kg"] == pytest.approx(heat_gj * 110.0, rel=1e-6)  # China default
    assert site["scope1"]["total_co2e"] == pytest.approx(fuel_kg + fugitive_kg, rel=1e-6)
    # completeness: every hour of every metered carrier since its first reading has data
    meters = {m["meter"]: m for m in site["completeness"]["meters"]}
    assert {"fuel:natural_gas", "fuel:raw_coal", "heat:dh"} <= meters.keys(), meters
    assert not [m for m in meters if m.startswith(("dc:", "water:"))], meters
    for flow in ("fuel:natural_gas", "fuel:raw_coal", "heat:dh"):
        m = meters[flow]
        assert m["hours"] >= 1 and m["missing"] == 0, m
        assert m["measured"] + m["estimated"] == pytest.approx(1.0), m
