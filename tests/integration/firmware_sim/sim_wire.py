"""Helpers for firmware-sim wire tests: read a device's whole register map with mbpoll or
pymodbus, decode it with the profile codec, and compare with the simulator's own values."""

from __future__ import annotations

import asyncio
import math
import re
import subprocess

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from peakline_core.config import DataType, ModbusProfile
from peakline_core.registers import decode_value

MBPOLL_TYPE = {"coil": "0", "discrete": "1", "input": "3:hex", "holding": "4:hex"}
LINE = re.compile(r"^\[(\d+)\]:\s+(0x[0-9A-Fa-f]+|-?\d+)", re.M)


def spans(profile: ModbusProfile) -> list[tuple[str, int, int]]:
    """(table, first address, count) blocks of at most 120 registers covering the map."""
    out = []
    for table in ("coil", "discrete", "input", "holding"):
        pts = sorted((p for p in profile.points if p.table.value == table), key=lambda p: p.address)
        if not pts:
            continue
        start = pts[0].address
        end = start
        for p in pts:
            if p.address + p.width - start > 120:
                out.append((table, start, end - start))
                start = p.address
            end = max(end, p.address + p.width)
        out.append((table, start, end - start))
    return out


async def mbpoll(target: list[str], table: str, address: int, count: int, unit: int) -> list[int]:
    cmd = ["mbpoll", "-0", "-1", "-a", str(unit), "-t", MBPOLL_TYPE[table], "-r", str(address)]
    cmd += ["-c", str(count), "-o", "2", *target]
    out = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=30)
    found = {int(a): int(v, 0) for a, v in LINE.findall(out.stdout)}
    assert len(found) == count, f"mbpoll failed: {out.stdout[-300:]} {out.stderr[-300:]}"
    return [found[address + i] for i in range(count)]


def mbpoll_tcp(port: int) -> list[str]:
    return ["-p", str(port), "127.0.0.1"]


def mbpoll_rtu(path: str) -> list[str]:
    return ["-m", "rtu", "-b", "19200", "-P", "none", path]


async def pymodbus_read(
    client: AsyncModbusTcpClient | AsyncModbusSerialClient,
    table: str,
    address: int,
    count: int,
    unit: int,
) -> list[int]:
    fn = {
        "coil": client.read_coils,
        "discrete": client.read_discrete_inputs,
        "input": client.read_input_registers,
        "holding": client.read_holding_registers,
    }[table]
    rr = await fn(address, count=count, device_id=unit)
    assert not rr.isError(), rr
    if table in ("coil", "discrete"):
        return [int(b) for b in rr.bits[:count]]
    return list(rr.registers)


def decode_all(profile: ModbusProfile, image: dict[tuple[str, int], int]) -> dict[str, object]:
    """Decode every point from a register image {(table, address): word}."""
    raw: dict[str, object] = {}
    for p in profile.points:
        regs = [image[(p.table.value, p.address + i)] for i in range(p.width)]
        raw[p.name] = decode_value(p, regs)
    out: dict[str, object] = {}
    for p in profile.points:
        sf = int(raw[p.scale_factor]) if p.scale_factor else 0  # type: ignore[call-overload]
        regs = [image[(p.table.value, p.address + i)] for i in range(p.width)]
        out[p.name] = decode_value(p, regs, sf)
    return out


def assert_matches(
    profile: ModbusProfile, decoded: dict[str, object], expected: dict[str, float]
) -> int:
    """Every numeric point decoded from the wire equals the simulator's value, within the
    register's resolution; returns how many points were compared."""
    compared = 0
    for p in profile.points:
        if p.dtype is DataType.STRING:
            continue
        got, want = decoded[p.name], expected[p.name]
        if got is None:
            assert math.isnan(want), (p.name, got, want)
            continue
        sf = decoded[p.scale_factor] if p.scale_factor else 0
        resolution = abs(p.scale) * 10.0 ** float(sf)  # type: ignore[arg-type]
        if p.dtype in (DataType.FLOAT32, DataType.FLOAT16):
            tol = abs(want) * 1e-6 + 1e-6
        elif p.dtype is DataType.FLOAT64:
            tol = abs(want) * 1e-12 + 1e-9
        else:
            tol = resolution / 2 + 1e-9
        if p.dtype in (DataType.UINT16, DataType.UINT32):
            want = max(want, 0.0)
        assert abs(float(got) - want) <= tol, (p.name, got, want)  # type: ignore[arg-type]
        compared += 1
    return compared
