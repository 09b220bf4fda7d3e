"""A Modbus device: plans its reads, reads blocks with retries, decodes, and writes points.

The plan comes from the pure planner in core and is cached per set of due points. A block that
fails with illegal-address is split and its halves retried in the same cycle; the cut is kept,
so the working plan is remembered, for `CUT_TTL_S` (an hour): a device that refused a register
only while booting or updating firmware gets its larger blocks back, at the cost of one
refused request an hour where the gap is real. A block that fails otherwise marks only its
own points `error`: the rest of the device's cycle goes on.

`write_point` is the seam for the command executor: it validates against the profile,
writes under the bus lock, reads back and returns the decoded value, or raises a typed error.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import structlog

from peakline_core.config.platform import Device, ModbusRtu, ModbusRtuOverTcp, ModbusTcp
from peakline_core.config.profiles import DataType, ModbusPoint, ModbusProfile, RegisterType
from peakline_core.errors import RegisterError
from peakline_core.registers import (
    BlockDecoder,
    Cut,
    PlanLimits,
    ReadRequest,
    decode_value,
    encode_value,
    plan_reads,
    split_request,
    with_scale_factors,
)
from peakline_core.wire import Quality, Reading
from peakline_edge.bus import ModbusBus
from peakline_edge.errors import DeviceError, DeviceTimeout, IllegalAddress, WriteRefused

Value = float | int | bool | str | None
CUT_TTL_S = 3600.0  # how long a learned block cut is kept before the merged block is retried
_INTEGER = {
    DataType.INT16,
    DataType.UINT16,
    DataType.INT32,
    DataType.UINT32,
    DataType.INT64,
    DataType.UINT64,
}


@dataclass(slots=True)
class PollResult:
    """One poll cycle of one device."""

    readings: list[Reading] = field(default_factory=list)
    requests: int = 0  # requests sent (after splits), for requests-per-cycle figures
    failed: list[DeviceError] = field(default_factory=list)
    reachable: bool = True  # False when the device gave no answer at all


class _BlockCodec:
    """Decoders for the points of one request (numeric ones vectorized, strings one by one)."""

    def __init__(self, request: ReadRequest) -> None:
        self.request = request
        self.numeric = [p for p in request.points if p.dtype is not DataType.STRING]
        self.strings = [p for p in request.points if p.dtype is DataType.STRING]
        self.decoder = BlockDecoder(self.numeric, request.address) if self.numeric else None

    def decode(self, registers: list[int]) -> dict[str, float | str]:
        out: dict[str, float | str] = {}
        if self.decoder is not None:
            values = self.decoder.decode(np.asarray(registers, dtype=np.uint16))
            out.update(zip((p.name for p in self.numeric), values.tolist(), strict=True))
        for p in self.strings:
            first = p.address - self.request.address
            text = decode_value(p, registers[first : first + p.width])
            out[p.name] = "" if text is None else str(text)
        return out


class ModbusDevice:
    """One Modbus device (one unit id) on a shared bus."""

    def __init__(
        self,
        device: Device,
        profile: ModbusProfile,
        bus: ModbusBus,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        rng: random.Random | None = None,
    ) -> None:
        if not isinstance(device.connection, ModbusTcp | ModbusRtu | ModbusRtuOverTcp):
            raise TypeError(f"{device.id} is not a Modbus device")
        self.device = device
        self.profile = profile
        self.bus = bus
        self.unit_id = device.connection.unit_id
        self.retries = device.connection.retries
        self.limits = PlanLimits.of(profile, device.max_block_registers, device.max_gap)
        self.cuts: dict[Cut, int] = {}  # learned cuts -> when each is forgotten (clock ns)
        self._clock = clock_ns
        self._rng = rng or random.Random()
        self._plans: dict[frozenset[str], list[ReadRequest]] = {}
        self._codecs: dict[tuple[object, ...], _BlockCodec] = {}
        self._log = structlog.get_logger("peakline.edge.device").bind(device=device.id)

    @property
    def id(self) -> str:
        return self.device.id

    def interval_of(self, point: ModbusPoint) -> float:
        """Seconds between reads of `point`: its own interval, else the device's."""
        return point.interval_s or self.device.poll_interval_s

    def plan(self, due: Iterable[ModbusPoint]) -> list[ReadRequest]:
        """Requests for the due points (and the scale factors they need), cached."""
        if self.cuts:
            now = self._clock()
            expired = [cut for cut, at in self.cuts.items() if at <= now]
            if expired:
                for cut in expired:
                    del self.cuts[cut]
                self._plans.clear()
                self._log.info("block cuts expired", cuts=len(expired))
        points = with_scale_factors(self.profile, due)
        key = frozenset(p.name for p in points)
        plan = self._plans.get(key)
        if plan is None:
            plan = plan_reads(points, unit_id=self.unit_id, limits=self.limits, cuts=self.cuts)
            self._plans[key] = plan
        return plan

    async def read_block(self, request: ReadRequest) -> list[int]:
        """One block, retried on timeouts with exponential backoff and jitter (not on replies)."""
        attempt = 0
        while True:
            try:
                return await self.bus.read(
                    self.id, request.table, request.unit_id, request.address, request.count
                )
            except DeviceTimeout:
                if attempt >= self.retries:
                    raise
                delay = min(0.1 * 2**attempt, 2.0) * (0.5 + self._rng.random())
                attempt += 1
                await asyncio.sleep(delay)  # backoff between retries

    async def poll(self, due: Iterable[ModbusPoint]) -> PollResult:
        """Read and decode the due points. Never raises for device errors: they become
        `error` readings of the affected points and entries of `PollResult.failed`."""
        result = PollResult()
        queue = list(self.plan(due))
        values: dict[str, float | str] = {}
        stamps: dict[str, int] = {}
        errored: dict[str, int] = {}
        answered = False
        while queue:
            request = queue.pop(0)
            ts = self._clock()
            result.requests += 1
            try:
                registers = await self.read_block(request)
            except IllegalAddress as exc:
                answered = True
                if len({p.address for p in request.points}) > 1:
                    low, high, cut = split_request(request)
                    self.cuts[cut] = ts + int(CUT_TTL_S * 1e9)
                    self._plans.clear()
                    queue[0:0] = [low, high]
                    self._log.info("block split", block=request.key, cut=cut[1])
                    continue
                result.failed.append(exc)
                errored.update((p.name, ts) for p in request.points)
                continue
            except DeviceError as exc:
                answered = answered or not isinstance(exc, DeviceTimeout)
                result.failed.append(exc)
                errored.update((p.name, ts) for p in request.points)
                if isinstance(exc, DeviceTimeout):
                    # no answer after retries: do not spend the others' timeouts too
                    for rest in queue:
                        errored.update((p.name, ts) for p in rest.points)
                    break
                continue
            answered = True
            codec_key = (*request.key, *(p.name for p in request.points))
            codec = self._codecs.get(codec_key)
            if codec is None:
                codec = self._codecs[codec_key] = _BlockCodec(request)
            decoded = codec.decode(registers)
            values.update(decoded)
            stamps.update(dict.fromkeys(decoded, ts))
        result.reachable = answered
        result.readings = self._readings(due, values, stamps, errored)
        return result

    def _readings(
        self,
        due: Iterable[ModbusPoint],
        values: dict[str, float | str],
        stamps: dict[str, int],
        errored: dict[str, int],
    ) -> list[Reading]:
        out = []
        for p in due:
            unit = p.unit or None
            if p.name in errored or p.name not in values:
                ts = errored.get(p.name) or self._clock()
                out.append(Reading(p.name, ts, None, Quality.ERROR, unit))
                continue
            raw = values[p.name]
            value: Value = raw
            if isinstance(raw, float):
                value = self._engineering(p, raw, values)
            quality = Quality.STALE if value is None else Quality.GOOD
            if p.scale_factor is not None and p.scale_factor in errored:
                quality = Quality.ERROR
                value = None
            out.append(Reading(p.name, stamps[p.name], value, quality, unit))
        return out

    def _engineering(self, p: ModbusPoint, raw: float, values: dict[str, float | str]) -> Value:
        if math.isnan(raw):
            return None
        if p.scale_factor is not None:
            sf = values.get(p.scale_factor)
            if not isinstance(sf, float) or math.isnan(sf):
                return None
            raw = (raw - p.offset) * 10.0**sf + p.offset
        if p.dtype in (DataType.BOOL, DataType.BIT):
            return bool(raw)
        if p.dtype in _INTEGER and p.scale == 1 and p.offset == 0 and p.scale_factor is None:
            return int(raw)
        return raw if math.isfinite(raw) else None

    # -- writes (the seam for the command executor) ------------------------------------------

    async def write_point(self, point_name: str, value: float | int | bool) -> Value:
        """Write one point and return its read-back engineering value.

        Raises WriteRefused (read-only, not writable, outside limits: nothing was written),
        ExceptionReply (the device refused), DeviceTimeout (no answer; the write may or may not
        have happened, the caller reads back to find out).
        """
        point = self._writable(point_name, value)
        if self.profile.enable is not None and self.profile.enable.point != point.name:
            enable = self.profile.point(self.profile.enable.point)
            await self._write_raw(enable, encode_value(enable, self.profile.enable.value))
        sf = await self._sf_exponent(point)
        try:
            words = encode_value(point, value, sf)
        except RegisterError as exc:
            raise WriteRefused(f"{self.id}.{point.name}: {exc}") from exc
        if point.dtype is DataType.BIT:
            [current] = await self.read_block(self._single(point))
            mask = 1 << (point.bit or 0)
            words = [(current & ~mask) | (words[0] & mask)]
        await self._write_raw(point, words)
        return await self.read_point(point.name)

    async def revert_point(self, point_name: str, previous: float | int | bool) -> Value:
        """End a hold: write `previous` back (a Modbus register has no priority to release);
        returns the read-back value, which the executor confirms against `previous`."""
        return await self.write_point(point_name, previous)

    async def read_point(self, point_name: str) -> Value:
        """Read one point now (and its scale factor), decoded; raises DeviceError on failure."""
        point = self.profile.point(point_name)
        result = await self.poll([point])
        if result.failed:
            raise result.failed[0]
        return result.readings[0].value

    def _writable(self, name: str, value: float | int | bool) -> ModbusPoint:
        if self.device.read_only or self.profile.read_only:
            raise WriteRefused(f"{self.id} is read-only")
        try:
            point = self.profile.point(name)
        except KeyError:
            raise WriteRefused(f"{self.id} has no point {name!r}") from None
        limits = point.writable
        if limits is None:
            raise WriteRefused(f"{self.id}.{name} is not writable")
        if not isinstance(value, bool) and not limits.min <= float(value) <= limits.max:
            raise WriteRefused(f"{self.id}.{name}: {value} outside [{limits.min}, {limits.max}]")
        return point

    async def _sf_exponent(self, point: ModbusPoint) -> int:
        if point.scale_factor is None:
            return 0
        sf = await self.read_point(point.scale_factor)
        if not isinstance(sf, int | float) or isinstance(sf, bool):
            raise WriteRefused(f"{self.id}.{point.name}: scale factor has no reading")
        return int(sf)

    def _single(self, point: ModbusPoint) -> ReadRequest:
        return ReadRequest(point.table, self.unit_id, point.address, point.width, (point,))

    async def _write_raw(self, point: ModbusPoint, words: list[int]) -> None:
        if point.table not in (RegisterType.HOLDING, RegisterType.COIL):
            raise WriteRefused(f"{self.id}.{point.name}: {point.table.value} is read-only")
        await self.bus.write(
            self.id,
            point.table,
            self.unit_id,
            point.address,
            words,
            single_function=self.profile.write_function,
        )
