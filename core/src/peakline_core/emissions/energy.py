"""Interval energy from meters: cumulative counters or integrated power, over [sites, time].

Readings are taken at `ts` (UTC ns, strictly increasing, shared by all sites); the result has
one column per interval between consecutive readings, ``[ts[i], ts[i+1])``, so its interval
starts are ``ts[:-1]``. To continue a series across batches, pass the previous batch's last
reading as the first column of the next.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from peakline_core.emissions._arrays import F64, as_2d, as_ts


def interval_energy_from_counter(
    ts: Any,
    counter: Any,
    rollover: float | None = None,
    *,
    on_reset: Literal["zero_start", "drop"] = "zero_start",
    max_kw: float | None = None,
    breaks: Any = None,
) -> F64:
    """Energy per interval (kWh) from cumulative energy counter readings (kWh), [sites, time].

    - gaps (NaN readings): the energy between the readings on either side is spread evenly
      over the intervals of the gap (a straight line on the counter);
    - rollover: a counter that wraps at `rollover` kWh (e.g. 1e6 for a 6-digit register)
      and goes down is taken to have wrapped when the wrapped increase is under half the
      range;
    - reset or meter replacement (a fall that is not a rollover, or a True in `breaks`, a
      [sites, time] mask of readings that start a new counter): ``zero_start`` counts the
      new reading as energy since zero (the Prometheus `increase()` convention), ``drop``
      leaves that span NaN. Never negative, never counted twice;
    - `max_kw`: a span whose mean power exceeds it is implausible (a replaced meter starting
      high, a glitch) and is left NaN.

    Returns [sites, time-1] kWh; NaN where the energy cannot be known.
    """
    c = as_2d("counter", counter)
    t = as_ts(ts, c.shape[1])
    if c.shape[1] < 2:
        return np.empty((c.shape[0], 0))
    n = c.shape[1]
    brk = None if breaks is None else np.broadcast_to(np.asarray(breaks, dtype=bool), c.shape)
    span_h = np.diff(t).astype(np.float64) / 3.6e12
    # dense pass: consecutive readings (NaN wherever either end is missing), fixed in place
    out: F64 = np.subtract(c[:, 1:], c[:, :-1])
    _correct_spans(
        out,
        c[:, 1:],
        None if brk is None else brk[:, 1:],
        span_h,
        rollover,
        on_reset,
        max_kw,
    )
    # sparse pass: each run of missing readings between two valid ones is one span whose
    # energy is spread evenly over its intervals (gaps are rare: this touches few values)
    bad = ~np.isfinite(c)
    if not bad.any():
        return out
    pos = np.flatnonzero(bad)
    row, col = np.divmod(pos, n)
    first = np.concatenate([[True], (np.diff(pos) != 1) | (col[1:] == 0)])
    last = np.concatenate([first[1:], [True]])
    r, a, b = row[first], col[first], col[last]
    inner = (a > 0) & (b < n - 1)  # leading and trailing gaps stay NaN
    r, a, b = r[inner], a[inner], b[inner]
    if r.size == 0:
        return out
    prev, nxt = c[r, a - 1], c[r, b + 1]
    delta = nxt - prev
    _correct_spans(
        delta,
        nxt,
        None if brk is None else brk[r, b + 1],
        (t[b + 1] - t[a - 1]).astype(np.float64) / 3.6e12,
        rollover,
        on_reset,
        max_kw,
    )
    span = b - a + 2
    offsets = np.arange(int(span.sum())) - np.repeat(np.cumsum(span) - span, span)
    flat = np.repeat(r * (n - 1) + a - 1, span) + offsets
    out.reshape(-1)[flat] = np.repeat(delta / span, span)
    return out


def _correct_spans(
    delta: F64,
    end: F64,
    brk: Any,
    span_h: Any,
    rollover: float | None,
    on_reset: Literal["zero_start", "drop"],
    max_kw: float | None,
) -> None:
    """In place: counter increases over spans (kWh) with rollovers, resets, breaks and
    implausible jumps handled; `end` is the reading closing each span, `span_h` its hours.
    Falls and breaks are rare, so they are fixed on their positions only."""
    hit = None if brk is None else brk & np.isfinite(delta)  # spans with both readings
    fell = delta < 0  # NaN compares False
    if fell.any():
        d = delta[fell]
        value = np.maximum(end[fell], 0.0) if on_reset == "zero_start" else np.full(d.shape, np.nan)
        if rollover is not None:
            wrapped = d + rollover
            is_wrap = (wrapped >= 0) & (wrapped < rollover / 2)
            value = np.where(is_wrap, wrapped, value)
        delta[fell] = value
    if hit is not None and hit.any():
        delta[hit] = np.maximum(end[hit], 0.0) if on_reset == "zero_start" else np.nan
    if max_kw is not None:
        delta[delta > max_kw * np.asarray(span_h)] = np.nan


def integrate_power(
    ts: Any,
    kw: Any,
    *,
    method: Literal["trapezoid", "hold"] = "trapezoid",
    max_gap_s: float | None = None,
) -> F64:
    """Energy per interval (kWh) from power samples (kW) at `ts` (UTC ns), [sites, time].

    ``trapezoid`` averages the two ends of each interval; ``hold`` keeps the left sample
    (for meters that report the mean power of the interval that starts at the sample).
    Intervals longer than `max_gap_s` seconds, or with a NaN end, are NaN.
    Returns [sites, time-1] kWh.
    """
    p = as_2d("kw", kw)
    t = as_ts(ts, p.shape[1])
    dt_h = np.diff(t).astype(np.float64) / 3.6e12
    mean_kw = 0.5 * (p[:, :-1] + p[:, 1:]) if method == "trapezoid" else p[:, :-1]
    out: F64 = mean_kw * dt_h[np.newaxis, :]
    if max_gap_s is not None:
        out[:, dt_h * 3600.0 > max_gap_s] = np.nan
    return out
