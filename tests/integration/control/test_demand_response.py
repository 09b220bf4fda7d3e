"""A demand-response event across three simulated buildings, end to end: plan from each site's
flexibility, commands through mosquitto to the real edge agent, load shed in the simulated
meters, revert at the end, and a verification report against the baseline."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from peakline_core.storage import SeriesQuery
from peakline_core.storage.schema import READING
from peakline_store.sqlite import SqliteStore
from peakline_testing import configs
from peakline_testing.modbus_peer import modbus_peer
from peakline_testing.waiting import eventually
from tests.integration.control.buildings import (
    METER_PROFILE,
    Building,
    building_units,
    run_physics,
    store_telemetry,
)
from tests.integration.control.control_rig import REPO, operator_api
from tests.integration.edge.edge_harness import AgentProcess

pytestmark = pytest.mark.timeout(180)
SITES = {"b1": (50.0, 4.0), "b2": (80.0, 6.0), "b3": (30.0, 3.0)}  # base kW, kW per degC
EVENT_S = 12
S = 1_000_000_000


def write_config(root: Path, broker: str, prefix: str, ports: dict[str, int]) -> None:
    (root / "profiles").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config/profiles/hvac-controller.yaml", root / "profiles")
    (root / "profiles/building-meter.yaml").write_text(yaml.safe_dump(METER_PROFILE))
    sites, devices = [], []
    for site, (_, per_degc) in SITES.items():
        sites.append(configs.site(
            site, name=site, floor_area_m2=1000, meter=f"{site}-meter",
            flexibility=[{"device": f"{site}-hvac", "point": "setpoint",
                          "kind": "setpoint_offset", "offset": 2, "kw_per_unit": per_degc}],
        ))  # fmt: skip
        for name, unit, profile in (("hvac", 1, "hvac-controller"), ("meter", 2, "building-meter")):
            devices.append({
                "id": f"{site}-{name}", "site": site, "agent": "gw1", "profile": profile,
                "poll_interval_s": 0.5,
                "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": ports[site],
                               "unit_id": unit, "timeout_s": 0.5, "retries": 1},
            })  # fmt: skip
    configs.write_config_dir(
        root, sites=sites, agents=[configs.agent(broker, prefix)], devices=devices
    )


@pytest.fixture
async def district(
    tmp_path: Path,
    mosquitto: Any,
    topic_prefix: str,
) -> AsyncIterator[tuple[httpx.AsyncClient, SqliteStore, dict[str, Building]]]:
    async with AsyncExitStack() as stack:
        buildings = {}
        for site, (base, per_degc) in SITES.items():
            peer = await stack.enter_async_context(modbus_peer(building_units(22.0)))
            buildings[site] = Building(peer, base, per_degc)
            buildings[site].step()
        physics = asyncio.create_task(run_physics(list(buildings.values())))
        stack.callback(physics.cancel)
        root = tmp_path / "config"
        ports = {s: b.peer.port for s, b in buildings.items()}
        write_config(root, mosquitto.url, topic_prefix, ports)
        store = SqliteStore(tmp_path / "store.db")
        stack.push_async_callback(store.aclose)
        feeder = asyncio.create_task(
            store_telemetry(mosquitto.host, mosquitto.port, topic_prefix, store)
        )
        stack.callback(feeder.cancel)
        agent = AgentProcess(root, tmp_path / "state", tmp_path / "agent.log")
        agent.start()
        stack.callback(agent.stop_quietly)
        client = await operator_api(stack, root, tmp_path, mosquitto.url, topic_prefix, store)
        yield client, store, buildings


async def test_event_sheds_load_and_is_verified(district: Any) -> None:
    api, store, buildings = district

    async def baseline_seen() -> bool:  # a few seconds of every meter (and setpoints) stored
        now = time.time_ns()
        found = await store.query(
            SeriesQuery(READING, "value", now - 600 * S, now + S, where={"point": ["power_total"]})
        )
        return len(found) == len(SITES) and all(len(s.times) >= 6 for s in found)

    await eventually(baseline_seen, 60, "a few seconds of meter readings in the store", every_s=0.1)
    before = {s: b.load_kw() for s, b in buildings.items()}
    r = await api.post(
        "/api/v1/dr-events",
        json={"sites": list(SITES), "reduce_pct": 5, "end": f"now+{EVENT_S}s",
              "marginal_g_per_kwh": 700, "name": "heatwave peak"},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    event = r.json()
    assert event["state"] == "active" and len(event["commands"]) == len(SITES)
    for plan in event["plan"]:  # 5 % of each site's load, rounded up to the 0.5 degC step
        assert plan["expected_kw"] >= plan["target_kw"] > 0
        assert plan["actions"][0]["value"] > 22.0

    async def shed_visible() -> bool:
        return all(b.load_kw() < before[s] for s, b in buildings.items())

    await eventually(shed_visible, 30, "lower load in every simulated meter", every_s=0.1)
    during = {s: b.load_kw() for s, b in buildings.items()}

    async def ended() -> bool:
        got = (await api.get(f"/api/v1/dr-events/{event['id']}")).json()
        states = {c["state"] for c in got["commands"]}
        return got["state"] == "completed" and states == {"reverted"}

    await eventually(
        ended, EVENT_S + 60, "event completed and every setpoint reverted", every_s=0.1
    )
    assert all(b.hvac.holding[100] == 220 for b in buildings.values())
    report = (await api.get(f"/api/v1/dr-events/{event['id']}")).json()["results"]
    assert report["complete"]
    by_site = {s["site"]: s for s in report["sites"]}
    for site in buildings:
        got = by_site[site]
        physical = before[site] - during[site]  # what the simulator really shed, kW
        assert got["baseline_method"].startswith("pre_event")
        assert got["baseline_kw"] == pytest.approx(before[site], rel=0.02)
        # the event window includes the moments before the write landed: at most all of it
        assert 0.5 * physical < got["shed_kw"] <= physical * 1.02
        assert got["shed_kwh"] == pytest.approx(got["shed_kw"] * EVENT_S / 3600, rel=0.01)
        assert got["shed_kwh"] > 0 and got["avoided_kg_co2e"] == pytest.approx(
            got["shed_kwh"] * 0.7
        )
    assert report["total_shed_kwh"] == pytest.approx(sum(s["shed_kwh"] for s in by_site.values()))
