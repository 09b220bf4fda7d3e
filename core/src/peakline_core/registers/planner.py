"""Register planning: the fewest Modbus read requests that cover a set of points (pure).

Points of one register table are sorted by address and merged into blocks while the merged
block stays within the size limit (registers, or bits for coils and discrete inputs) and the
hole between the block's end and the next point is at most `max_gap` registers. Reading a few
unused registers is cheaper than another round trip, on TCP and much more so on a 9600-baud line.

Some devices answer a block that covers an unimplemented register with an illegal-address
exception. The poller then calls `split_request`: the halves are retried, and the address where
they were cut is kept as a `cut` that later plans never merge across, so the working plan is
remembered without the planner needing to know why.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from peakline_core.config.profiles import ModbusPoint, ModbusProfile, RegisterType
from peakline_core.errors import RegisterError

MODBUS_MAX_REGISTERS = 125
"""Largest register count of one read (function codes 3 and 4)."""
MODBUS_MAX_BITS = 2000
"""Largest bit count of one read (function codes 1 and 2)."""

Cut = tuple[RegisterType, int]
"""(table, address): no block may hold both `address - 1` and `address` of that table."""


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """How large a block may grow. Devices that cannot read large blocks get smaller limits."""

    max_registers: int = MODBUS_MAX_REGISTERS
    max_bits: int = MODBUS_MAX_BITS
    max_gap: int = 10

    def __post_init__(self) -> None:
        if not 1 <= self.max_registers <= MODBUS_MAX_REGISTERS:
            raise RegisterError(f"max_registers must be 1..125, not {self.max_registers}")
        if not 1 <= self.max_bits <= MODBUS_MAX_BITS:
            raise RegisterError(f"max_bits must be 1..2000, not {self.max_bits}")
        if self.max_gap < 0:
            raise RegisterError(f"max_gap must be >= 0, not {self.max_gap}")

    @classmethod
    def of(
        cls,
        profile: ModbusProfile,
        max_registers: int | None = None,
        max_gap: int | None = None,
    ) -> PlanLimits:
        """The profile's limits, narrowed by per-device overrides (None keeps the profile's)."""
        return cls(
            max_registers=min(profile.max_block_registers, max_registers or MODBUS_MAX_REGISTERS),
            max_bits=profile.max_block_bits,
            max_gap=profile.max_gap if max_gap is None else max_gap,
        )


@dataclass(frozen=True, slots=True)
class ReadRequest:
    """One Modbus read: `count` registers (or bits) of `table` from `address` on `unit_id`."""

    table: RegisterType
    unit_id: int
    address: int
    count: int
    points: tuple[ModbusPoint, ...]

    @property
    def end(self) -> int:
        """First address after the block."""
        return self.address + self.count

    @property
    def key(self) -> tuple[str, int, int, int]:
        """A stable identity for logs and metrics: (table, unit id, address, count)."""
        return (self.table.value, self.unit_id, self.address, self.count)


_TABLE_ORDER = {t: i for i, t in enumerate(RegisterType)}


def plan_reads(
    points: Iterable[ModbusPoint],
    *,
    unit_id: int = 1,
    limits: PlanLimits | None = None,
    cuts: Collection[Cut] = (),
) -> list[ReadRequest]:
    """The fewest requests covering `points`, ordered by table then address.

    A point wider than the size limit (a long string) still gets a request of its own width:
    a point is never split across requests.
    """
    limits = limits or PlanLimits()
    cut_set = frozenset(cuts)
    by_table: dict[RegisterType, list[ModbusPoint]] = {}
    for p in points:
        by_table.setdefault(p.table, []).append(p)
    requests: list[ReadRequest] = []
    for table in sorted(by_table, key=_TABLE_ORDER.__getitem__):
        size = limits.max_bits if table.is_bit else limits.max_registers
        ordered = sorted(by_table[table], key=lambda p: (p.address, p.width, p.name))
        table_cuts = sorted(a for t, a in cut_set if t is table)
        block: list[ModbusPoint] = [ordered[0]]
        start, end = ordered[0].address, ordered[0].address + ordered[0].width
        for p in ordered[1:]:
            p_end = p.address + p.width
            new_end = max(end, p_end)
            crosses = _crosses(table_cuts, start, p.address)
            if not crosses and p.address - end <= limits.max_gap and new_end - start <= size:
                block.append(p)
                end = new_end
                continue
            requests.append(ReadRequest(table, unit_id, start, end - start, tuple(block)))
            block, start, end = [p], p.address, p_end
        requests.append(ReadRequest(table, unit_id, start, end - start, tuple(block)))
    return requests


def _crosses(cuts: Sequence[int], start: int, address: int) -> bool:
    """Whether a cut lies in (start, address]: joining `address` to the block would cross it."""
    i = bisect_right(cuts, start)
    return i < len(cuts) and cuts[i] <= address


def split_request(request: ReadRequest) -> tuple[ReadRequest, ReadRequest, Cut]:
    """Halve a failed request at a point boundary; returns both halves and the cut to remember.

    Raises RegisterError for a request that holds a single point (it cannot be split: that
    point itself is unreadable). Points that share the first address stay together.
    """
    ordered = sorted(request.points, key=lambda p: (p.address, p.width, p.name))
    starts = sorted({p.address for p in ordered})
    if len(starts) < 2:
        raise RegisterError(f"request {request.key} holds one address and cannot be split")
    cut_at = starts[len(starts) // 2]
    low = [p for p in ordered if p.address < cut_at]
    high = [p for p in ordered if p.address >= cut_at]
    return _request(request, low), _request(request, high), (request.table, cut_at)


def _request(parent: ReadRequest, points: Sequence[ModbusPoint]) -> ReadRequest:
    start = min(p.address for p in points)
    end = max(p.address + p.width for p in points)
    return ReadRequest(parent.table, parent.unit_id, start, end - start, tuple(points))


def with_scale_factors(profile: ModbusProfile, points: Iterable[ModbusPoint]) -> list[ModbusPoint]:
    """`points` plus the SunSpec scale-factor points they need, each once, in profile order."""
    wanted = {p.name for p in points}
    for p in profile.points:
        if p.name in wanted and p.scale_factor is not None:
            wanted.add(p.scale_factor)
    return [p for p in profile.points if p.name in wanted]


def naive_request_count(points: Iterable[ModbusPoint]) -> int:
    """Requests a one-request-per-point poller would send (the benchmark's baseline)."""
    return sum(1 for _ in points)
