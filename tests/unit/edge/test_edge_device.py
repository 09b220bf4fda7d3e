"""ModbusDevice against a real Modbus TCP peer: decoding, block splitting on illegal-address,
partial failures, silent devices, and the write_point seam."""

from __future__ import annotations

from typing import Any

import pytest

from peakline_core.config.platform import Device, ModbusTcp
from peakline_core.config.profiles import ModbusProfile
from peakline_core.registers import encode_value
from peakline_core.wire import Quality
from peakline_edge.bus import ModbusBus
from peakline_edge.device import CUT_TTL_S, ModbusDevice
from peakline_edge.errors import ExceptionReply, WriteRefused
from peakline_testing.modbus_peer import Unit, modbus_peer

PROFILE = ModbusProfile.model_validate(
    {
        "name": "mixed",
        "kind": "meter",
        "points": [
            {
                "name": "power",
                "unit": "W",
                "table": "holding",
                "address": 0,
                "dtype": "float32",
                "byte_order": "CDAB",
            },
            {
                "name": "temp",
                "unit": "C",
                "table": "holding",
                "address": 2,
                "dtype": "int16",
                "scale": 0.1,
                "writable": {"min": -20, "max": 60},
            },
            {
                "name": "ac",
                "unit": "W",
                "table": "holding",
                "address": 3,
                "dtype": "int16",
                "scale_factor": "ac_sf",
                "sentinel": [-32768],
            },
            {"name": "ac_sf", "table": "holding", "address": 4, "dtype": "int16"},
            {
                "name": "alarm",
                "table": "holding",
                "address": 5,
                "dtype": "bit",
                "bit": 2,
                "writable": {"min": 0, "max": 1},
            },
            {"name": "serial", "table": "holding", "address": 6, "dtype": "string", "count": 4},
            {
                "name": "energy",
                "unit": "Wh",
                "table": "input",
                "address": 30,
                "dtype": "uint32",
                "counter": True,
            },
            {"name": "far", "table": "holding", "address": 16, "dtype": "uint16"},
            {
                "name": "relay",
                "table": "coil",
                "address": 3,
                "dtype": "bool",
                "writable": {"min": 0, "max": 1},
            },
        ],
    }
)
VALUES: dict[str, Any] = {
    "power": 1234.5,
    "temp": 21.5,
    "ac": 523,
    "ac_sf": -1,
    "alarm": True,
    "serial": "AB12",
    "energy": 987654,
    "far": 7,
    "relay": True,
}


def _unit() -> Unit:
    unit = Unit()
    for p in PROFILE.points:
        sf = VALUES["ac_sf"] if p.name == "ac" else 0
        words = encode_value(p, VALUES[p.name], sf)
        table = getattr(unit, p.table.value)
        for i, w in enumerate(words):
            table[p.address + i] = table.get(p.address + i, 0) | w
    for a in range(10, 16):
        unit.holding[a] = 0  # implemented gap registers
    return unit


def _device(port: int, unit_id: int = 1, **kw: Any) -> Device:
    conn = ModbusTcp(
        driver="modbus-tcp", host="127.0.0.1", port=port, unit_id=unit_id, timeout_s=0.3, retries=1
    )
    return Device(id=f"d{unit_id}", site="s1", agent="gw1", profile="mixed", connection=conn, **kw)


def _values(readings: list[Any]) -> dict[str, Any]:
    return {r.point: r.value for r in readings if r.quality is Quality.GOOD}


async def test_every_point_decodes_to_the_encoded_value() -> None:
    async with modbus_peer({1: _unit()}) as peer, ModbusBus(_device(peer.port).connection) as bus:
        device = ModbusDevice(_device(peer.port), PROFILE, bus)
        result = await device.poll(PROFILE.points)
    got = _values(result.readings)
    assert got.keys() == VALUES.keys()
    assert got["power"] == pytest.approx(1234.5)
    assert got["temp"] == pytest.approx(21.5)
    assert got["ac"] == pytest.approx(523.0)  # raw 5230 * 10**-1
    assert (got["alarm"], got["serial"], got["energy"], got["relay"]) == (
        True,
        "AB12",
        987654,
        True,
    )
    assert result.requests == 3  # holding 0..16, input 30..31, coil 3
    assert len({r.ts for r in result.readings if r.point in ("power", "far")}) == 1


async def test_sentinel_is_no_reading() -> None:
    unit = _unit()
    unit.holding[3] = 0x8000
    async with modbus_peer({1: unit}) as peer, ModbusBus(_device(peer.port).connection) as bus:
        result = await ModbusDevice(_device(peer.port), PROFILE, bus).poll(PROFILE.points)
    [ac] = [r for r in result.readings if r.point == "ac"]
    assert (ac.value, ac.quality) == (None, Quality.STALE)


async def test_illegal_address_splits_the_block_and_remembers_the_plan() -> None:
    unit = _unit()
    del unit.holding[12]  # an unimplemented register inside the gap
    async with modbus_peer({1: unit}) as peer, ModbusBus(_device(peer.port).connection) as bus:
        device = ModbusDevice(_device(peer.port), PROFILE, bus)
        first = await device.poll(PROFILE.points)
        peer.requests.clear()
        second = await device.poll(PROFILE.points)
    assert _values(first.readings).keys() == VALUES.keys()
    assert _values(second.readings).keys() == VALUES.keys()
    holding = [(a, n) for _, fc, a, n in peer.requests if fc == 3]
    assert all(not a <= 12 < a + n for a, n in holding)
    assert len(peer.requests) == second.requests  # no failed attempt on the second cycle


async def test_a_learned_cut_expires_so_a_transient_refusal_is_not_kept_forever() -> None:
    """A register refused while the device booted: the block is split, and an hour later
    the merged block is tried again; it answers now, so the plan is whole again."""
    unit = _unit()
    del unit.holding[12]
    now = [1_700_000_000 * 10**9]
    async with modbus_peer({1: unit}) as peer, ModbusBus(_device(peer.port).connection) as bus:
        device = ModbusDevice(_device(peer.port), PROFILE, bus, clock_ns=lambda: now[0])
        split = await device.poll(PROFILE.points)
        assert split.requests > 3 and device.cuts
        unit.holding[12] = 0  # booted: the register answers again
        now[0] += int(CUT_TTL_S * 1e9) - 1
        still_cut = await device.poll(PROFILE.points)  # one refused request per cut: gone
        assert still_cut.requests == split.requests - len(device.cuts) > 3
        now[0] += 1
        peer.requests.clear()
        merged = await device.poll(PROFILE.points)
    assert merged.requests == 3 and not device.cuts
    assert _values(merged.readings).keys() == VALUES.keys()
    assert [(a, n) for _, fc, a, n in peer.requests if fc == 3] == [(0, 17)]


async def test_one_bad_register_errors_only_its_point() -> None:
    unit = _unit()
    del unit.holding[16]  # the point "far" itself is gone
    async with modbus_peer({1: unit}) as peer, ModbusBus(_device(peer.port).connection) as bus:
        result = await ModbusDevice(_device(peer.port), PROFILE, bus).poll(PROFILE.points)
    quality = {r.point: r.quality for r in result.readings}
    assert quality.pop("far") is Quality.ERROR
    assert set(quality.values()) == {Quality.GOOD}
    assert result.reachable


async def test_silent_unit_fails_without_touching_its_neighbour_on_the_bus() -> None:
    units = {1: _unit(), 2: _unit()}
    units[2].silent = True
    async with modbus_peer(units) as peer, ModbusBus(_device(peer.port).connection) as bus:
        quiet = await ModbusDevice(_device(peer.port, 2), PROFILE, bus).poll(PROFILE.points)
        fine = await ModbusDevice(_device(peer.port, 1), PROFILE, bus).poll(PROFILE.points)
    assert not quiet.reachable
    assert {r.quality for r in quiet.readings} == {Quality.ERROR}
    assert _values(fine.readings).keys() == VALUES.keys()


async def test_write_point_writes_and_reads_back() -> None:
    unit = _unit()
    async with modbus_peer({1: unit}) as peer, ModbusBus(_device(peer.port).connection) as bus:
        device = ModbusDevice(_device(peer.port), PROFILE, bus)
        assert await device.write_point("temp", 19.5) == pytest.approx(19.5)
        unit.holding[5] |= 0b1
        assert await device.write_point("alarm", False) is False
        assert unit.holding[5] == 0b1  # read-modify-write kept the other bit
        assert await device.write_point("relay", False) is False
        with pytest.raises(WriteRefused):
            await device.write_point("temp", 99)
        with pytest.raises(WriteRefused):
            await device.write_point("power", 1.0)
        del unit.holding[2]
        with pytest.raises(ExceptionReply):
            await device.write_point("temp", 20)


async def test_read_only_device_is_never_written() -> None:
    unit = _unit()
    async with modbus_peer({1: unit}) as peer, ModbusBus(_device(peer.port).connection) as bus:
        device = ModbusDevice(_device(peer.port, read_only=True), PROFILE, bus)
        with pytest.raises(WriteRefused):
            await device.write_point("temp", 20)
    assert peer.writes == []
