"""A simulated Modbus device: its register map (from the profile), reads encoded on demand from
the world's state at the simulated time of the request, writes checked against the profile's
limits and applied to the physics, and the wire-level faults (exceptions, silence, delays)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pymodbus.constants import ExcCodes

from firmware_sim.errors import SimError
from firmware_sim.faults import Injected
from firmware_sim.measure import apply_faults, covers, wrong_order
from firmware_sim.scenario import DeviceSpec, FaultKind
from firmware_sim.world import World
from peakline_core.config import DataType, ModbusPoint, ModbusProfile, RegisterType
from peakline_core.registers import decode_value, encode_value

TABLE_OF_FC = {1: "coil", 5: "coil", 15: "coil", 2: "discrete", 3: "holding", 6: "holding"}
TABLE_OF_FC.update({16: "holding", 22: "holding", 23: "holding", 4: "input"})
CONTROLS = ("setpoint", "mode", "running")


class NoAnswer(SimError):
    """The device stays silent (timeout, reboot): the client gets no reply at all."""


@dataclass(frozen=True, slots=True)
class WriteRecord:
    """One Modbus write as received: simulated UTC ns, device, table, 0-based address, the raw
    registers (or bits), and whether the device accepted it."""

    ts: int
    device: str
    table: str
    address: int
    values: tuple[int, ...]
    accepted: bool


class ModbusDevice:
    def __init__(self, spec: DeviceSpec, profile: ModbusProfile, world: World) -> None:
        self.spec = spec
        self.id = spec.id
        self.profile = profile
        self.world = world
        self.read_only = spec.read_only or profile.read_only
        self.tables: dict[str, list[ModbusPoint]] = {}
        for p in profile.points:
            self.tables.setdefault(p.table.value, []).append(p)
        self.spans = {
            t: (min(p.address for p in ps), max(p.address + p.width for p in ps))
            for t, ps in self.tables.items()
        }

    def faults(self, t_ns: int) -> list[Injected]:
        return [f for f in self.world.faults if f.fault.device == self.id and f.active(t_ns)]

    def delay_s(self, t_ns: int) -> float:
        """Extra response latency (wall seconds) from active `slow` faults."""
        return sum(f.spec.delay_s for f in self.faults(t_ns) if f.kind is FaultKind.SLOW)

    def silent(self, t_ns: int) -> bool:
        quiet = (FaultKind.TIMEOUT, FaultKind.REBOOT)
        return any(f.kind in quiet and f.fault.point is None for f in self.faults(t_ns))

    def values(self, t_ns: int, wire: bool = False) -> dict[str, float]:
        """Engineering values the device reports at t (after measurement faults); wire=True
        leaves wrong-endian encoding to the register encoder."""
        raw = self.world.values_at(self.id, t_ns)
        raw.update(self.world.controls(self.id))
        ts = np.array([t_ns], dtype=np.int64)
        series = {p.name: np.array([raw.get(p.name, 0.0)]) for p in self.profile.points}
        consts = self.world.constants(self.id)
        mine = [f for f in self.world.faults if f.fault.device == self.id]
        out = apply_faults(
            mine, self.world.captured, self.profile, consts, ts, series, garble_endian=not wire
        )
        return {k: float(v[0]) for k, v in out.items()}

    def _check(self, table: str, address: int, count: int, t_ns: int) -> ExcCodes | None:
        if self.silent(t_ns):
            raise NoAnswer
        span = self.spans.get(table)
        if span is None or address < span[0] or address + count > span[1]:
            return ExcCodes.ILLEGAL_ADDRESS
        for f in self.faults(t_ns):
            if f.kind is FaultKind.EXCEPTION:
                first = f.spec.first if f.spec.first is not None else 0
                last = f.spec.last if f.spec.last is not None else 65535
                if address <= last and address + count - 1 >= first:
                    return ExcCodes(f.spec.code)
        return None

    def read(self, table: str, address: int, count: int, t_ns: int) -> list[int] | ExcCodes:
        """Registers (or bits as 0/1) [address, address + count) at simulated time t."""
        err = self._check(table, address, count, t_ns)
        if err is not None:
            return err
        values = self.values(t_ns, wire=True)
        consts = self.world.constants(self.id)
        active = self.faults(t_ns)
        regs = [0] * count
        for p in self.tables[table]:
            if p.address + p.width <= address or p.address >= address + count:
                continue
            sf = int(float(consts.get(p.scale_factor or "", 0)))
            value: float | str = (
                consts[p.name] if isinstance(consts.get(p.name), str) else values[p.name]
            )
            point = p
            for f in active:
                if f.kind is FaultKind.WRONG_ENDIAN and covers(f, p, p.name):
                    point = p.model_copy(update={"byte_order": wrong_order(p, f)})
            words = self._encode(point, value, sf)
            if isinstance(words, ExcCodes):
                return words
            for i, w in enumerate(words):
                j = p.address + i - address
                if 0 <= j < count:
                    regs[j] = w
        return regs

    @staticmethod
    def _encode(p: ModbusPoint, value: float | str, sf: int) -> list[int] | ExcCodes:
        if isinstance(value, float) and math.isnan(value):
            if p.dtype in (DataType.FLOAT16, DataType.FLOAT32, DataType.FLOAT64):
                return encode_value(p, value, sf)
            if p.sentinel:
                return encode_value(
                    p.model_copy(update={"scale": 1.0, "offset": 0.0}), p.sentinel[0]
                )
            return ExcCodes.DEVICE_FAILURE
        if p.dtype is DataType.UINT16 or p.dtype is DataType.UINT32:
            value = max(float(value), 0.0)  # a power reading never wraps to 65535
        return encode_value(p, value, sf)

    def write(self, table: str, address: int, values: list[int], t_ns: int) -> ExcCodes | None:
        """Apply a write of raw registers/bits; returns an exception code if refused."""
        err = self._check(table, address, len(values), t_ns)
        accepted = False
        try:
            if err is not None:
                return err
            if self.read_only:
                return ExcCodes.ILLEGAL_FUNCTION
            updates: dict[str, float] = {}
            pos = address
            while pos < address + len(values):
                point = next((p for p in self.tables[table] if p.address == pos), None)
                if (
                    point is None
                    or point.writable is None
                    or pos + point.width > address + len(values)
                ):
                    return ExcCodes.ILLEGAL_ADDRESS
                chunk = values[pos - address : pos - address + point.width]
                sf = int(float(self.world.constants(self.id).get(point.scale_factor or "", 0)))
                decoded = decode_value(point, chunk, sf)
                value = float(decoded) if isinstance(decoded, bool | int | float) else math.nan
                lim = point.writable
                if not (lim.min - 1e-9 <= value <= lim.max + 1e-9):
                    return ExcCodes.ILLEGAL_VALUE
                updates[point.name] = value
                pos += point.width
            self.world.set_controls(self.id, updates, t_ns)
            accepted = True
            return None
        finally:
            self.world.write_log.append(
                WriteRecord(t_ns, self.id, table, address, tuple(int(v) for v in values), accepted)
            )

    def table_of(self, func_code: int) -> str:
        return TABLE_OF_FC.get(func_code, "")


__all__ = ["CONTROLS", "ModbusDevice", "NoAnswer", "RegisterType", "WriteRecord"]
