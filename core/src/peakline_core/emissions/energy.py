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
    n_sites, n = c.shape
    valid = np.isfinite(c)
    # work on the valid readings only, flattened row-major: consecutive valid readings of
    # the same row are a span whose energy is spread over the intervals between them
    pos = np.flatnonzero(valid)
    vals = c.reshape(-1)[pos]
    row, col = np.divmod(pos, n)
    same = row[1:] == row[:-1]
    delta = np.diff(vals)
    span = np.diff(col)
    end = vals[1:]
    fell = same & (delta < 0)
    if rollover is not None:
        wrapped = delta + rollover
        is_wrap = fell & (wrapped >= 0) & (wrapped < rollover / 2)
        delta = np.where(is_wrap, wrapped, delta)
        fell &= ~is_wrap
    restart = fell
    if breaks is not None:
        restart = restart | (np.asarray(breaks, dtype=bool).reshape(-1)[pos[1:]] & same)
    if restart.any():
        delta = np.where(
            restart, np.maximum(end, 0.0) if on_reset == "zero_start" else np.nan, delta
        )
    if max_kw is not None:
        span_h = (t[col[1:]] - t[col[:-1]]) / 3.6e12
        delta = np.where(delta > max_kw * span_h, np.nan, delta)
    per_interval = (delta / span)[same]
    out: F64 = np.full((n_sites, n - 1), np.nan)
    has = valid.any(axis=1)
    first = np.where(has, valid.argmax(axis=1), 0)
    last = np.where(has, n - 1 - valid[:, ::-1].argmax(axis=1), 0)
    cols = np.arange(n - 1)[np.newaxis, :]
    covered = (cols >= first[:, np.newaxis]) & (cols < last[:, np.newaxis])
    out[covered] = np.repeat(per_interval, span[same])
    return out


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
