"""Installer gaps of issue 24 against firmware-sim: RTU framing over TCP (a serial-to-Ethernet
converter in transparent mode) and models that take single-register writes by FC16 only.
The real edge stack (ModbusDevice, ModbusBus, pymodbus client) reads and writes; the simulator's
clock is manual, so its values do not move while the edge reads them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from firmware_sim import Scenario, load_profiles, run
from peakline_core.config import Device, ModbusProfile
from peakline_core.wire import Quality
from peakline_edge.bus import ModbusBus
from peakline_edge.device import ModbusDevice
from peakline_edge.errors import ExceptionReply

pytestmark = pytest.mark.timeout(120)
REPO = Path(__file__).resolve().parents[3]


def _profiles() -> dict[str, object]:
    profiles: dict[str, object] = dict(load_profiles(REPO / "config" / "profiles"))
    hvac = profiles["hvac-controller"]
    assert isinstance(hvac, ModbusProfile)
    profiles["hvac-fc16"] = hvac.model_copy(update={"name": "hvac-fc16", "write_function": 16})
    return profiles


def _scenario() -> Scenario:
    over_tcp = {"driver": "modbus-rtu-over-tcp", "host": "127.0.0.1"}
    return Scenario.model_validate(
        {
            "seed": 11,
            "speed": 0,
            "start": "2025-06-02T00:00:00Z",
            "devices": [
                {"id": "meter", "profile": "sdm630", "listen": {**over_tcp, "unit_id": 3}},
                {"id": "hvac", "profile": "hvac-fc16", "physics": {"mode": 1}},
            ],
        }
    )


def _device(sim_endpoint: object, device_id: str, profile: str, driver: str) -> Device:
    return Device.model_validate(
        {"id": device_id, "site": "s1", "agent": "gw", "profile": profile,
         "connection": {"driver": driver, "host": "127.0.0.1",
                        "port": sim_endpoint.port,  # type: ignore[attr-defined]
                        "unit_id": sim_endpoint.unit_id,  # type: ignore[attr-defined]
                        "timeout_s": 1.0, "retries": 1}}
    )  # fmt: skip


async def test_rtu_over_tcp_values_match_the_simulator() -> None:
    profiles = _profiles()
    async with run(_scenario(), profiles) as sim:  # type: ignore[arg-type]
        sim.clock.advance(4 * 3600)
        endpoint = sim.endpoints["meter"]
        assert endpoint.driver == "modbus-rtu-over-tcp"
        device = _device(endpoint, "meter", "sdm630", "modbus-rtu-over-tcp")
        profile = profiles["sdm630"]
        assert isinstance(profile, ModbusProfile)
        assert device.connection.driver == "modbus-rtu-over-tcp"
        async with ModbusBus(device.connection) as bus:
            result = await ModbusDevice(device, profile, bus).poll(profile.points)
        assert result.reachable and not result.failed
        readings = {r.point: r for r in result.readings}
        for p in profile.points:
            if p.dtype.value == "string":
                continue
            expected = sim.value("meter", p.name)
            reading = readings[p.name]
            if math.isnan(expected):
                assert reading.quality is Quality.STALE
                continue
            assert reading.quality is Quality.GOOD, (p.name, reading)
            assert isinstance(reading.value, int | float)
            assert float(reading.value) == pytest.approx(expected, rel=1e-6, abs=abs(p.scale)), p


async def test_rtu_over_tcp_unknown_unit_is_silence_not_an_answer() -> None:
    profiles = _profiles()
    async with run(_scenario(), profiles) as sim:  # type: ignore[arg-type]
        endpoint = sim.endpoints["meter"]
        device = Device.model_validate(
            {"id": "ghost", "site": "s1", "agent": "gw", "profile": "sdm630",
             "connection": {"driver": "modbus-rtu-over-tcp", "host": "127.0.0.1",
                            "port": endpoint.port, "unit_id": 9, "timeout_s": 0.3,
                            "retries": 0}}
        )  # fmt: skip
        profile = profiles["sdm630"]
        assert isinstance(profile, ModbusProfile) and device.connection.driver != "mqtt"
        async with ModbusBus(device.connection) as bus:
            result = await ModbusDevice(device, profile, bus).poll(profile.points[:2])
        assert not result.reachable
        assert all(r.quality is Quality.ERROR for r in result.readings)


async def test_fc16_only_model_is_written_with_fc16_and_refuses_fc6() -> None:
    profiles = _profiles()
    async with run(_scenario(), profiles) as sim:  # type: ignore[arg-type]
        endpoint = sim.endpoints["hvac"]
        device = _device(endpoint, "hvac", "hvac-fc16", "modbus-tcp")
        fc16 = profiles["hvac-fc16"]
        assert isinstance(fc16, ModbusProfile) and device.connection.driver == "modbus-tcp"
        fc6 = fc16.model_copy(update={"write_function": 6})
        async with ModbusBus(device.connection) as bus:
            with pytest.raises(ExceptionReply):
                await ModbusDevice(device, fc6, bus).write_point("setpoint", 21.0)
            readback = await ModbusDevice(device, fc16, bus).write_point("setpoint", 23.5)
        assert readback == pytest.approx(23.5)
        assert sim.value("hvac", "setpoint") == pytest.approx(23.5)
