"""Energy intervals and their apportionment to aligned windows.

An interval says "between t0 and t1 (UTC ns) this source delivered `kwh`, of which
`estimated_kwh` was estimated (its spread in time is a straight line, not measured); and a
further `suspect_kwh` was seen but not believed". Windows are aligned on multiples of their
length from the Unix epoch (1-minute windows start at :00 seconds in every time zone).
An interval spanning several windows is shared in proportion to its time in each, so the
sum over windows equals the sum over intervals exactly (up to float rounding).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


class EnergyQuality(StrEnum):
    """How a window's energy was obtained (stored as the row's `quality`)."""

    MEASURED = "measured"
    ESTIMATED = "estimated"  # some of it interpolated (a gap, a glitch skipped, a catch-up)
    SUSPECT = "suspect"  # readings in it were not believed (and are not counted)
    IMPORTED = "imported"  # from an imported file or bill, not the live path


@dataclass(frozen=True, slots=True)
class Intervals:
    """Parallel arrays of intervals, plus the times of readings that were not believed."""

    t0: I64
    t1: I64
    kwh: F64
    estimated_kwh: F64
    suspect_kwh: F64
    suspect_ts: I64

    def __len__(self) -> int:
        return int(self.t0.size)


@dataclass(slots=True)
class IntervalSink:
    """Collects intervals as a walk produces them (single ones and numpy runs)."""

    _chunks: list[tuple[I64, I64, F64, F64, F64]] = field(default_factory=list)
    _one: list[tuple[int, int, float, float, float]] = field(default_factory=list)
    _suspect: list[I64] = field(default_factory=list)

    def add(self, t0: int, t1: int, kwh: float, estimated_kwh: float, suspect_kwh: float) -> None:
        self._flush_one_if_needed()
        self._one.append((t0, t1, kwh, estimated_kwh, suspect_kwh))

    def add_many(self, t0: Any, t1: Any, kwh: Any, estimated: Any = False) -> None:
        """Intervals t0..t1 with their kWh; `estimated` a bool or a per-interval mask."""
        self._flush_one()
        k = np.asarray(kwh, dtype=np.float64)
        zeros = np.zeros_like(k)
        self._chunks.append(
            (
                np.asarray(t0, dtype=np.int64),
                np.asarray(t1, dtype=np.int64),
                k,
                np.where(np.asarray(estimated, dtype=bool), k, 0.0),
                zeros,
            )
        )

    def mark_suspect(self, times: Any) -> None:
        self._suspect.append(np.asarray(times, dtype=np.int64).reshape(-1))

    def _flush_one_if_needed(self) -> None:
        if len(self._one) >= 4096:
            self._flush_one()

    def _flush_one(self) -> None:
        if not self._one:
            return
        a = np.array(self._one, dtype=np.float64).T
        self._chunks.append(
            (
                np.array([x[0] for x in self._one], np.int64),
                np.array([x[1] for x in self._one], np.int64),
                a[2].copy(),
                a[3].copy(),
                a[4].copy(),
            )
        )
        self._one.clear()

    def intervals(self) -> Intervals:
        self._flush_one()
        if self._chunks:
            parts = list(zip(*self._chunks, strict=True))
            t0, t1, kwh, est, sus = (np.concatenate(p) for p in parts)
        else:
            t0 = t1 = np.empty(0, np.int64)
            kwh = est = sus = np.empty(0, np.float64)
        suspect = np.concatenate(self._suspect) if self._suspect else np.empty(0, np.int64)
        return Intervals(
            t0.astype(np.int64),
            t1.astype(np.int64),
            kwh,
            est,
            sus,
            suspect.astype(np.int64),
        )


@dataclass(frozen=True, slots=True)
class Windows:
    """Per-window sums: `start` (UTC ns, aligned), energy fields, covered seconds and the
    number of readings not believed in the window."""

    start: I64
    kwh: F64
    estimated_kwh: F64
    suspect_kwh: F64
    covered_s: F64
    suspect_n: I64

    def __len__(self) -> int:
        return int(self.start.size)

    def quality(self) -> list[EnergyQuality]:
        """Each window's quality: suspect if anything in it was not believed, else estimated
        if any of its energy is, else measured."""
        out = []
        for sus_n, sus, est, kwh in zip(
            self.suspect_n.tolist(),
            self.suspect_kwh.tolist(),
            self.estimated_kwh.tolist(),
            self.kwh.tolist(),
            strict=True,
        ):
            if sus_n > 0 or sus > 0:
                out.append(EnergyQuality.SUSPECT)
            elif est > 1e-9 * max(1.0, abs(kwh)):
                out.append(EnergyQuality.ESTIMATED)
            else:
                out.append(EnergyQuality.MEASURED)
        return out


def to_windows(intervals: Intervals, window_ns: int) -> Windows:
    """Share each interval among the aligned windows it overlaps, in proportion to time."""
    t0, t1 = intervals.t0, intervals.t1
    w0 = np.floor_divide(t0, window_ns)
    w1 = np.floor_divide(np.maximum(t1 - 1, t0), window_ns)
    count = (w1 - w0 + 1).astype(np.int64)
    rep = np.repeat(np.arange(t0.size), count)
    offsets = np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)
    win = w0[rep] + offsets
    lo = np.maximum(t0[rep], win * window_ns)
    hi = np.minimum(t1[rep], (win + 1) * window_ns)
    span = (t1 - t0)[rep].astype(np.float64)
    overlap = np.maximum(hi - lo, 0).astype(np.float64)
    share = np.divide(overlap, span, out=np.ones_like(overlap), where=span > 0)
    sus_win = np.floor_divide(intervals.suspect_ts, window_ns)
    keys, inverse = np.unique(np.concatenate([win, sus_win]), return_inverse=True)
    inv_iv, inv_sus = inverse[: win.size], inverse[win.size :]
    m = keys.size

    def summed(x: F64) -> F64:
        out: F64 = np.bincount(inv_iv, weights=x[rep] * share, minlength=m).astype(np.float64)
        return out

    return Windows(
        (keys * window_ns).astype(np.int64),
        summed(intervals.kwh),
        summed(intervals.estimated_kwh),
        summed(intervals.suspect_kwh),
        np.bincount(inv_iv, weights=overlap, minlength=m) / 1e9,
        np.bincount(inv_sus, minlength=m).astype(np.int64),
    )
