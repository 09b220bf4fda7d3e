"""The agent process against firmware-sim (TCP devices and RTU units on a pseudo-terminal)
and a real mosquitto: the values that arrive are the simulator's (manual clock, so the
simulator's state does not move while the agent reads it)."""

from __future__ import annotations

import asyncio
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from firmware_sim import Scenario, load_profiles, run
from peakline_core.config import ModbusProfile
from peakline_core.wire import Quality
from peakline_testing.servers import Mosquitto, SerialPair
from peakline_testing.waiting import eventually
from tests.integration.edge.edge_harness import AgentProcess, Collector, write_config

pytestmark = pytest.mark.timeout(240)
REPO = Path(__file__).resolve().parents[3]


def _scenario(serial_path: str) -> Scenario:
    rtu = {"driver": "modbus-rtu", "port": serial_path}
    return Scenario.model_validate(
        {
            "seed": 5,
            "speed": 0,
            "start": "2025-06-02T00:00:00Z",
            "devices": [
                {"id": "meter", "profile": "sdm630", "physics": {"includes": ["hvac", "pv"]}},
                {"id": "pv", "profile": "sunspec-inverter", "physics": {"capacity_kw": 50}},
                {"id": "hvac", "profile": "hvac-controller", "physics": {"mode": 1}},
                {"id": "rtu-meter", "profile": "sdm630", "listen": {**rtu, "unit_id": 3}},
                {"id": "rtu-pv", "profile": "sunspec-inverter", "listen": {**rtu, "unit_id": 9}},
            ],
        }
    )


def _device(endpoint: Any, profile: str, serial_path: str) -> dict[str, Any]:
    if endpoint.driver == "modbus-tcp":
        conn = {
            "driver": "modbus-tcp",
            "host": endpoint.host,
            "port": endpoint.port,
            "unit_id": endpoint.unit_id,
        }
    else:
        conn = {
            "driver": "modbus-rtu",
            "port": serial_path,
            "baudrate": 19200,
            "unit_id": endpoint.unit_id,
        }
    return {
        "id": endpoint.device,
        "site": "s1",
        "agent": "gw1",
        "profile": profile,
        "poll_interval_s": 1.0,
        "connection": {**conn, "timeout_s": 1.0, "retries": 2},
    }


async def test_values_from_firmware_sim_arrive_over_tcp_and_rtu(
    tmp_path: Path, mosquitto: Mosquitto, serial_pair: SerialPair, topic_prefix: str
) -> None:
    profiles = load_profiles(REPO / "config" / "profiles")
    scenario = _scenario(serial_pair.a)
    async with run(scenario, profiles) as sim:
        sim.clock.advance(4 * 3600)  # local noon: the PV inverter produces
        devices = [_device(sim.endpoints[d.id], d.profile, serial_pair.b) for d in scenario.devices]
        config = write_config(tmp_path / "cfg", mosquitto.url, topic_prefix, devices)
        for d in scenario.devices:
            shutil.copy(REPO / "config" / "profiles" / f"{d.profile}.yaml", config / "profiles")
        collector = Collector(mosquitto.host, mosquitto.port, topic_prefix)
        task = asyncio.create_task(collector.run())
        await eventually(collector.connected.is_set, 20, "collector connected")
        agent = AgentProcess(config, tmp_path / "state", tmp_path / "agent.log")
        agent.start()
        try:
            await eventually(
                lambda: all(len(collector.of(d.id)) >= 2 for d in scenario.devices),
                90,
                "two batches from every device",
            )
            assert await agent.terminate() == 0
        finally:
            agent.stop_quietly()
            task.cancel()
        for d in scenario.devices:
            profile = profiles[d.profile]
            assert isinstance(profile, ModbusProfile)
            latest = {r.point: r for b in collector.of(d.id) for r in b.readings}
            assert latest.keys() == {p.name for p in profile.points}, d.id
            for p in profile.points:
                reading = latest[p.name]
                if p.dtype.value == "string":
                    assert isinstance(reading.value, str) and reading.quality is Quality.GOOD
                    continue
                expected = sim.value(d.id, p.name)
                if math.isnan(expected):
                    assert reading.value is None and reading.quality is Quality.STALE
                    continue
                assert reading.quality is Quality.GOOD, (d.id, p.name, reading)
                sf = latest[p.scale_factor].value if p.scale_factor else 0
                assert isinstance(sf, int | float)
                step = abs(p.scale) * 10.0 ** float(sf)
                assert isinstance(reading.value, int | float), (d.id, p.name, reading)
                assert float(reading.value) == pytest.approx(expected, rel=1e-6, abs=step), (
                    d.id,
                    p.name,
                )
    assert (tmp_path / "state" / "health.json").exists()
