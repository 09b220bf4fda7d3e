"""Faults are real on the wire, and the ground truth lists exactly the faults injected."""

from __future__ import annotations

import asyncio

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from firmware_sim import Fault, Scenario, read_ground_truth, run

START = "2025-01-06T00:00:00Z"
T0 = 1736121600 * 10**9


def scenario() -> Scenario:
    faults = [
        {"kind": "spike", "device": "m1", "point": "power_total", "start": "1h", "duration": "10s"},
        {
            "kind": "flatline",
            "device": "m1",
            "point": "voltage_l1",
            "start": "2h",
            "duration": "1h",
        },
        {"kind": "drift", "device": "m2", "point": "voltage_l2", "start": "1h"},
        {
            "kind": "dropout",
            "device": "m2",
            "point": "power_total",
            "start": "3h",
            "duration": "5m",
        },
        {"kind": "counter_reset", "device": "m1", "point": "import_energy", "start": "5h"},
        {"kind": "exception", "device": "busy", "code": 6, "start": "0s"},
        {"kind": "exception", "device": "holes", "code": 2, "first": 52, "last": 53},
        {"kind": "timeout", "device": "dead", "start": "0s"},
        {"kind": "single_connection", "device": "single"},
        {"kind": "wrong_endian", "device": "endian", "point": "power_total"},
        {"kind": "hvac_waste", "device": "hvac", "start": "14h", "duration": "8h"},
        {"kind": "theft", "device": "m2", "start": "1d", "duration": "12h", "fraction": 0.5},
    ]
    ids = ["m1", "m2", "busy", "holes", "dead", "single", "endian"]
    devices = [{"id": i, "profile": "sdm630"} for i in ids]
    devices.append({"id": "hvac", "profile": "hvac-controller"})
    return Scenario.model_validate(
        {"speed": 0, "start": START, "devices": devices, "faults": faults}
    )


def expected_truth() -> list[Fault]:
    h = 3600 * 10**9
    return [
        Fault("m1", "power_total", T0 + h, T0 + h + 10 * 10**9, "spike"),
        Fault("m1", "voltage_l1", T0 + 2 * h, T0 + 3 * h, "flatline"),
        Fault("m2", "voltage_l2", T0 + h, None, "drift"),
        Fault("m2", "power_total", T0 + 3 * h, T0 + 3 * h + 300 * 10**9, "dropout"),
        Fault("m1", "import_energy", T0 + 5 * h, T0 + 5 * h, "counter_reset"),
        Fault("busy", None, T0, None, "exception"),
        Fault("holes", None, T0, None, "exception"),
        Fault("dead", None, T0, None, "timeout"),
        Fault("single", None, T0, None, "single_connection"),
        Fault("endian", "power_total", T0, None, "wrong_endian"),
        Fault("hvac", None, T0 + 14 * h, T0 + 22 * h, "hvac_waste"),
        Fault("m2", None, T0 + 24 * h, T0 + 36 * h, "theft"),
    ]


async def read(port: int, address: int = 52, count: int = 2, wait_s: float = 2.0):
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=wait_s, retries=0)
    await client.connect()
    try:
        return await client.read_input_registers(address, count=count, device_id=1)
    finally:
        client.close()


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
async def test_ground_truth_lists_exactly_the_injected_faults(
    profiles: dict, tmp_path, suffix: str
) -> None:
    async with run(scenario(), profiles) as sim:
        sim.clock.advance(600)
        live = sim.set_fault("reboot", "m1", duration_s=60)
        sim.clock.advance(30)
        path = sim.write_ground_truth(tmp_path / f"truth{suffix}")
    assert live == Fault("m1", None, T0 + 600 * 10**9, T0 + 660 * 10**9, "reboot")
    assert read_ground_truth(path) == [*expected_truth(), live]


async def test_exception_replies_are_on_the_wire(profiles: dict) -> None:
    async with run(scenario(), profiles) as sim:
        busy = await read(sim.endpoints["busy"].port)
        assert busy.isError() and busy.exception_code == 6
        hole = await read(sim.endpoints["holes"].port, 52, 2)
        assert hole.isError() and hole.exception_code == 2
        fine = await read(sim.endpoints["holes"].port, 0, 10)
        assert not fine.isError()


async def test_timeout_device_never_answers(profiles: dict) -> None:
    async with run(scenario(), profiles) as sim:
        try:
            rr = await read(sim.endpoints["dead"].port, wait_s=0.5)
        except ModbusIOException:
            return
        assert rr.isError()


async def test_single_connection_device_closes_the_second_connection(profiles: dict) -> None:
    async with run(scenario(), profiles) as sim:
        port = sim.endpoints["single"].port
        first = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        await first.connect()
        try:
            assert not (await first.read_input_registers(52, count=2, device_id=1)).isError()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(bytes.fromhex("000100000006010400340002"))
                assert await asyncio.wait_for(reader.read(64), 10) == b""  # closed, no answer
            finally:
                writer.close()
            assert not (await first.read_input_registers(52, count=2, device_id=1)).isError()
        finally:
            first.close()


async def test_wrong_endian_firmware_garbles_only_the_faulty_point(profiles: dict) -> None:
    async with run(scenario(), profiles) as sim:
        sim.clock.advance(3 * 3600)
        rr = await read(sim.endpoints["endian"].port, 52, 2)
        true_power = sim.world.values_at("endian", sim.clock.now())["power_total"]
        from peakline_core.registers import decode_value

        point = sim.devices["endian"].profile.point("power_total")
        assert decode_value(point, rr.registers) != pytest.approx(true_power, rel=1e-3)
        swapped = point.model_copy(update={"byte_order": "DCBA"})
        assert decode_value(swapped, rr.registers) == pytest.approx(true_power, rel=1e-6)
