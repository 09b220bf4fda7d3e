"""The issue's end-to-end checks against firmware-sim's HVAC controllers and meters (physics:
heating output follows the setpoint), a real mosquitto, the edge agent as a subprocess and the
API app: a setpoint applied and read back, a read-only device never written (the simulator's
write log), and a demand-response event across three buildings shed in the simulated meters
and quantified against the baseline."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from firmware_sim import DeviceSpec, Physics, Scenario, Simulation, load_profiles, run
from peakline_core.storage import SeriesQuery
from peakline_core.storage.schema import READING
from peakline_core.wire import Command, CommandState, decode_ack, encode
from peakline_store.sqlite import SqliteStore
from peakline_testing import configs
from peakline_testing.configs import copy_example
from peakline_testing.waiting import eventually
from tests.integration.control.buildings import store_telemetry
from tests.integration.control.control_rig import REPO, operator_api
from tests.integration.edge.edge_harness import AgentProcess

pytestmark = pytest.mark.timeout(240)
S = 1_000_000_000
SITES = ("b1", "b2", "b3")
EVENT_S = 15


def scenario() -> Scenario:
    devices = [DeviceSpec(id="ro-hvac", profile="hvac-controller")]
    for site in SITES:
        devices.append(DeviceSpec(
            id=f"{site}-hvac", profile="hvac-controller",
            physics=Physics(capacity_kw=120, setpoint_c=21, initial_temp_c=20.5, mode=1),
        ))  # fmt: skip
        devices.append(DeviceSpec(
            id=f"{site}-meter", profile="sdm630",
            physics=Physics(base_kw=10, peak_kw=10, includes=[f"{site}-hvac"]),
        ))  # fmt: skip
    # Monday 08:00 local, winter: the buildings are open and heating (mode 1, 30 kW thermal).
    return Scenario(name="dr", seed=3, speed=1.0, physics_step_s=1,
                    start=datetime(2025, 1, 6, tzinfo=UTC), devices=devices)  # fmt: skip


def write_config(root: Path, broker: str, prefix: str, sim: Simulation) -> None:
    copy_example(root, "profiles")

    def device(name: str, site: str, profile: str, **extra: Any) -> dict[str, Any]:
        ep = sim.endpoints[name]
        return {
            "id": name, "site": site, "agent": "gw1", "profile": profile, "poll_interval_s": 1,
            "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": ep.port,
                           "unit_id": ep.unit_id, "timeout_s": 1, "retries": 1},
            **extra,
        }  # fmt: skip

    devices = [device("ro-hvac", "b1", "hvac-controller", read_only=True)]
    sites = []
    for site in SITES:
        devices += [device(f"{site}-hvac", site, "hvac-controller"),
                    device(f"{site}-meter", site, "sdm630")]  # fmt: skip
        sites.append(configs.site(
            site, name=site, floor_area_m2=2000, meter=f"{site}-meter",
            flexibility=[{"device": f"{site}-hvac", "point": "setpoint",
                          "kind": "setpoint_offset", "offset": -2, "kw_per_unit": 6}],
        ))  # fmt: skip
    configs.write_config_dir(
        root, sites=sites, agents=[configs.agent(broker, prefix)], devices=devices
    )


@dataclass
class District:
    api: httpx.AsyncClient
    sim: Simulation
    store: SqliteStore
    heard: list[tuple[str, bytes]]
    prefix: str
    mqtt: Any


@pytest.fixture
async def district(tmp_path: Path, mosquitto: Any, topic_prefix: str) -> AsyncIterator[District]:
    import aiomqtt

    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(
            run(scenario(), load_profiles(REPO / "config/profiles"))
        )
        root = tmp_path / "config"
        write_config(root, mosquitto.url, topic_prefix, sim)
        store = SqliteStore(tmp_path / "store.db")
        stack.push_async_callback(store.aclose)
        feeder = asyncio.create_task(
            store_telemetry(mosquitto.host, mosquitto.port, topic_prefix, store)
        )
        stack.callback(feeder.cancel)
        mqtt = await stack.enter_async_context(aiomqtt.Client(mosquitto.host, mosquitto.port))
        await mqtt.subscribe(f"{topic_prefix}/v1/ack/#", qos=1)
        heard: list[tuple[str, bytes]] = []

        async def listen() -> None:
            async for m in mqtt.messages:
                assert isinstance(m.payload, bytes)
                heard.append((str(m.topic), m.payload))

        listener = asyncio.create_task(listen())
        stack.callback(listener.cancel)
        agent = AgentProcess(root, tmp_path / "state", tmp_path / "agent.log")
        agent.start()
        stack.callback(agent.stop_quietly)
        api = await operator_api(stack, root, tmp_path, mosquitto.url, topic_prefix, store)

        async def stored() -> bool:  # every meter and setpoint has a few seconds in the store
            now = time.time_ns()
            q = SeriesQuery(READING, "value", now - 600 * S, now + S,
                            where={"point": ["power_total", "setpoint"]})  # fmt: skip
            found = await store.query(q)
            return len(found) >= 2 * len(SITES) and all(len(s.times) >= 4 for s in found)

        await eventually(stored, 60, "meter and setpoint readings in the store", every_s=0.1)
        yield District(api, sim, store, heard, topic_prefix, mqtt)


async def final(api: httpx.AsyncClient, command_id: str, states: set[str]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def check() -> bool:
        seen.update((await api.get(f"/api/v1/commands/{command_id}")).json())
        return seen["state"] in states

    await eventually(check, 60, f"command in {states}", every_s=0.1)
    return seen


async def test_setpoint_and_read_only_against_the_simulator(district: District) -> None:
    api, sim = district.api, district.sim
    body = {"site": "b1", "device": "b1-hvac", "point": "setpoint", "value": 22.5}
    r = await api.post("/api/v1/commands", json=body)
    assert r.status_code == 202, r.text
    done = await final(api, r.json()["id"], {"applied", "rejected", "failed", "expired"})
    assert done["state"] == "applied" and done["readback"] == 22.5, done
    assert sim.value("b1-hvac", "setpoint") == pytest.approx(22.5)
    # The read-only device: refused at the API, and at the edge when forced onto its topic.
    ro = {"site": "b1", "device": "ro-hvac", "point": "setpoint", "value": 22.0}
    r = await api.post("/api/v1/commands", json=ro)
    assert r.status_code == 422 and r.json()["reason"] == "read_only"
    now = time.time_ns()
    forced = Command(id="forced-ro", site="b1", device="ro-hvac", point="setpoint", value=22.0,
                     issued_at=now, expires_at=now + 20 * S, issuer="mallory")  # fmt: skip
    await district.mqtt.publish(f"{district.prefix}/v1/cmd/b1/ro-hvac", encode(forced), qos=1)
    await eventually(lambda: any(t.endswith("/ro-hvac") for t, _ in district.heard), 30, "ro ack")
    ack = decode_ack(next(p for t, p in district.heard if t.endswith("/ro-hvac")))
    assert ack.state is CommandState.REJECTED
    assert [w for w in sim.write_log if w.device == "ro-hvac"] == []
    assert any(w.device == "b1-hvac" and w.accepted for w in sim.write_log)


async def test_demand_response_sheds_simulated_load(district: District) -> None:
    api, sim = district.api, district.sim
    hvac_before = {s: sim.value(f"{s}-hvac", "power") for s in SITES}
    meter_before = {s: sim.value(f"{s}-meter", "power_total") for s in SITES}
    r = await api.post(
        "/api/v1/dr-events",
        json={"sites": list(SITES), "reduce_kw": 6, "end": f"now+{EVENT_S}s",
              "marginal_g_per_kwh": 600},
    )  # fmt: skip
    assert r.status_code == 201, r.text
    event = r.json()
    for plan in event["plan"]:  # 6 kW at 6 kW/K: one kelvin down, from 21 degC
        assert [a["value"] for a in plan["actions"]] == [20.0], plan

    async def shed_in_meters() -> bool:
        return all(sim.value(f"{s}-meter", "power_total") < meter_before[s] - 3000 for s in SITES)

    await eventually(shed_in_meters, 30, "lower load in every simulated meter", every_s=0.1)
    hvac_during = {s: sim.value(f"{s}-hvac", "power") for s in SITES}

    async def ended() -> bool:
        got = (await api.get(f"/api/v1/dr-events/{event['id']}")).json()
        return got["state"] == "completed" and {c["state"] for c in got["commands"]} == {"reverted"}

    await eventually(
        ended, EVENT_S + 60, "event completed and every setpoint reverted", every_s=0.1
    )
    assert all(sim.value(f"{s}-hvac", "setpoint") == pytest.approx(21.0) for s in SITES)
    report = (await api.get(f"/api/v1/dr-events/{event['id']}")).json()["results"]
    for site in report["sites"]:
        physical_kw = (hvac_before[site["site"]] - hvac_during[site["site"]]) / 1000
        assert physical_kw > 3, (site, physical_kw)
        assert not math.isnan(site["shed_kw"])
        assert 0.4 * physical_kw < site["shed_kw"] < 1.5 * physical_kw, (site, physical_kw)
        assert site["avoided_kg_co2e"] == pytest.approx(site["shed_kwh"] * 0.6)
        # energy over exactly the event's duration (the last 60 s slot is cut at its end)
        assert site["shed_kwh"] == pytest.approx(site["shed_kw"] * EVENT_S / 3600, rel=0.01)


async def test_a_cancelled_event_ends_the_holds_on_the_edge(district: District) -> None:
    """Cancelling an active event ends each hold on the edge now: the setpoints return to
    what they were before the event (the edge's revert, which on BACnet is a relinquish),
    and no new write of an old value is left holding the point."""
    api, sim = district.api, district.sim
    r = await api.post("/api/v1/dr-events", json={"sites": list(SITES), "reduce_kw": 6,
                                                  "end": "now+600s"})  # fmt: skip
    assert r.status_code == 201, r.text
    event = r.json()

    async def held() -> bool:
        return all(sim.value(f"{s}-hvac", "setpoint") == pytest.approx(20.0) for s in SITES)

    await eventually(held, 30, "every setpoint at the event's 20 degC", every_s=0.1)
    r = await api.post(f"/api/v1/dr-events/{event['id']}/cancel", json={})
    assert r.status_code == 200, r.text
    reverts = r.json()["reverts"]
    assert len(reverts) == len(SITES) and all(x["id"] for x in reverts), reverts

    async def restored() -> bool:
        states = {(await api.get(f"/api/v1/commands/{x['id']}")).json()["state"] for x in reverts}
        back = all(sim.value(f"{s}-hvac", "setpoint") == pytest.approx(21.0) for s in SITES)
        return back and states == {"reverted"}

    await eventually(restored, 30, "setpoints back at 21 degC, every hold ended", every_s=0.1)
