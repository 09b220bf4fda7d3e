"""Every simulated Modbus device read over the wire (mbpoll and pymodbus, TCP and RTU on a
socat pty pair) decodes to the simulator's own values."""

from __future__ import annotations

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from firmware_sim import Simulation
from peakline_testing.servers import SerialPair
from tests.integration.firmware_sim.sim_wire import (
    assert_matches,
    decode_all,
    mbpoll,
    mbpoll_rtu,
    mbpoll_tcp,
    pymodbus_read,
    spans,
)


def expected(sim: Simulation, device: str) -> dict[str, float]:
    dev = sim.devices[device]
    return {
        p.name: sim.value(device, p.name) for p in dev.profile.points if p.dtype.value != "string"
    }


async def test_mbpoll_reads_every_device_over_tcp_and_rtu(
    sim: Simulation, serial_pair: SerialPair
) -> None:
    for device, ep in sim.endpoints.items():
        dev = sim.devices[device]
        target = mbpoll_tcp(ep.port) if ep.driver == "modbus-tcp" else mbpoll_rtu(serial_pair.b)
        image = {}
        for table, start, count in spans(dev.profile):
            words = await mbpoll(target, table, start, count, ep.unit_id or 1)
            image.update({(table, start + i): w for i, w in enumerate(words)})
        compared = assert_matches(
            dev.profile, decode_all(dev.profile, image), expected(sim, device)
        )
        assert compared >= 12, device


async def test_pymodbus_reads_every_device_over_tcp_and_rtu(
    sim: Simulation, serial_pair: SerialPair
) -> None:
    serial = AsyncModbusSerialClient(serial_pair.b, baudrate=19200, timeout=2, retries=1)
    await serial.connect()
    try:
        for device, ep in sim.endpoints.items():
            dev = sim.devices[device]
            if ep.driver == "modbus-tcp":
                client = AsyncModbusTcpClient("127.0.0.1", port=ep.port, timeout=2)
                await client.connect()
            else:
                client = serial
            image = {}
            for table, start, count in spans(dev.profile):
                words = await pymodbus_read(client, table, start, count, ep.unit_id or 1)
                image.update({(table, start + i): w for i, w in enumerate(words)})
            if client is not serial:
                client.close()
            assert_matches(dev.profile, decode_all(dev.profile, image), expected(sim, device))
    finally:
        serial.close()


async def test_pv_produces_at_noon_and_the_meter_nets_it(sim: Simulation) -> None:
    assert sim.value("pv", "ac_power") > 1000
    assert sim.value("pv", "operating_state") in (4, 5)
    assert sim.value("hvac", "heating_power") > 0


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
async def test_setpoint_write_reads_back_and_lowers_power(
    sim: Simulation, serial_pair: SerialPair, transport: str
) -> None:
    device = "hvac" if transport == "tcp" else "rtu-hvac"
    ep = sim.endpoints[device]
    if transport == "tcp":
        client = AsyncModbusTcpClient("127.0.0.1", port=ep.port, timeout=2)
    else:
        client = AsyncModbusSerialClient(serial_pair.b, baudrate=19200, timeout=2, retries=1)
    await client.connect()
    try:
        unit = ep.unit_id or 1
        await client.write_register(101, 1, device_id=unit)  # heat mode
        await client.write_register(100, 230, device_id=unit)  # 23.0 degC
        sim.clock.advance(1800)
        before = sim.value(device, "power")
        rr = await client.write_register(100, 190, device_id=unit)  # 19.0 degC
        assert not rr.isError()
        back = await client.read_holding_registers(100, count=1, device_id=unit)
        assert back.registers == [190]
        sim.clock.advance(300)
        after = sim.value(device, "power")
        assert after < before - 1000, (before, after)
        words = await client.read_input_registers(1, count=1, device_id=unit)
        assert abs(words.registers[0] * 10 - after) <= 10
        bad = await client.write_register(100, 400, device_id=unit)  # 40 degC: above max
        assert bad.isError() and bad.exception_code == 3
    finally:
        client.close()
    mine = [w for w in sim.write_log if w.device == device]
    assert [(w.address, w.values, w.accepted) for w in mine] == [
        (101, (1,), True),
        (100, (230,), True),
        (100, (190,), True),
        (100, (400,), False),
    ]


async def test_read_only_meter_refuses_writes_and_logs_them(sim: Simulation) -> None:
    ep = sim.endpoints["meter"]
    client = AsyncModbusTcpClient("127.0.0.1", port=ep.port, timeout=2)
    await client.connect()
    try:
        rr = await client.write_registers(0, [0, 0], device_id=1)
        assert rr.isError()
    finally:
        client.close()
    assert [w.accepted for w in sim.write_log if w.device == "meter"] == [False]
