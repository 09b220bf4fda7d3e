"""Energy from power samples (kW): trapezoids between good samples, glitches skipped.

A sample whose magnitude exceeds `max_kw` (more than the load can draw or the inverter can
deliver) is not believed: it is marked suspect and the trapezoid spans from the last good
sample to the next one, counted as estimated. Two good samples further apart than
`max_gap_s` leave the time between them uncounted (not covered): power says nothing about
a gap, unlike a counter.

`flow` "net" splits signed power into import (> 0) and export (< 0), each side integrated on
its own clipped at zero (an interval crossing zero counts half of each end on its side, as
the trapezoid of the clipped series does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from peakline_core.derive.intervals import IntervalSink

NS_PER_H = 3_600_000_000_000
NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class PowerLimits:
    max_kw: float
    max_gap_s: float = 900.0


@dataclass(slots=True)
class PowerState:
    """The last good sample (t ns, kW) and whether samples were skipped since it."""

    t: int = -1
    p: float = 0.0
    skipped: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "p": self.p, "skipped": self.skipped}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PowerState:
        return cls(int(data["t"]), float(data["p"]), bool(data.get("skipped", False)))


def walk_power(
    state: PowerState,
    ts: Any,
    kw: Any,
    limits: PowerLimits,
    sinks: tuple[IntervalSink, ...],
) -> PowerState:
    """Advance over samples `ts` (UTC ns, increasing) / `kw`; one sink for a one-sided flow
    (clipped at zero), two (import, export) for net power. Returns the new state."""
    t = np.asarray(ts, dtype=np.int64)
    p = np.asarray(kw, dtype=np.float64)
    keep = (t > state.t) & np.isfinite(p)
    t, p = t[keep], p[keep]
    if t.size == 0:
        return PowerState(state.t, state.p, state.skipped)
    believed = np.abs(p) <= limits.max_kw
    for sink in sinks:
        sink.mark_suspect(t[~believed])
    tg, pg = t[believed], p[believed]
    # a good sample right after skipped ones starts an estimated interval
    skipped_before = np.zeros(tg.size, dtype=bool)
    if tg.size:
        idx = np.flatnonzero(believed)
        prev_idx = np.r_[-1, idx[:-1]]
        skipped_before = idx - prev_idx > 1
        skipped_before[0] = state.skipped or idx[0] > 0
    skipped_after = bool(believed.size and not believed[-1]) or (
        tg.size == 0 and (state.skipped or not believed.all())
    )
    if state.t >= 0:
        tg = np.r_[state.t, tg]
        pg = np.r_[state.p, pg]
        est = skipped_before
    else:
        est = skipped_before[1:]
    if tg.size >= 2:
        dt = np.diff(tg)
        ok = dt <= limits.max_gap_s * NS
        hours = dt[ok] / NS_PER_H
        sides = (pg,) if len(sinks) == 1 else (pg, -pg)
        for sink, side in zip(sinks, sides, strict=True):
            clipped = np.maximum(side, 0.0)
            e = 0.5 * (clipped[:-1] + clipped[1:])[ok] * hours
            sink.add_many(tg[:-1][ok], tg[1:][ok], e, estimated=est[ok])
    if tg.size == 0:
        return PowerState(state.t, state.p, skipped_after)
    return PowerState(int(tg[-1]), float(pg[-1]), skipped_after)
