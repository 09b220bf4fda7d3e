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


def _prev_valid_index(valid: Any) -> Any:
    """For each column, the index of the last valid column at or before it (-1: none)."""
    idx = np.where(valid, np.arange(valid.shape[1])[np.newaxis, :], -1)
    return np.maximum.accumulate(idx, axis=1)


def _next_valid_index(valid: Any) -> Any:
    """For each column, the index of the first valid column at or after it (n: none)."""
    n = valid.shape[1]
    idx = np.where(valid, np.arange(n)[np.newaxis, :], n)
    return np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1]


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
    valid = np.isfinite(c)
    prev = _prev_valid_index(valid)
    # delta at each valid reading j from the previous valid reading p < j
    p = np.concatenate([np.full((c.shape[0], 1), -1), prev[:, :-1]], axis=1)
    has_prev = valid & (p >= 0)
    c_prev = np.take_along_axis(c, np.maximum(p, 0), axis=1)
    delta = np.where(has_prev, c - c_prev, np.nan)
    fell = has_prev & (delta < 0)
    if rollover is not None:
        wrapped = delta + rollover
        is_wrap = fell & (wrapped >= 0) & (wrapped < rollover / 2)
        delta = np.where(is_wrap, wrapped, delta)
        fell = fell & ~is_wrap
    restart = fell
    if breaks is not None:
        restart = restart | (np.asarray(breaks, dtype=bool) & has_prev)
    if on_reset == "zero_start":
        delta = np.where(restart, np.maximum(c, 0.0), delta)
    else:
        delta = np.where(restart, np.nan, delta)
    span = np.where(has_prev, np.arange(c.shape[1])[np.newaxis, :] - p, 1)
    if max_kw is not None:
        span_h = (t[np.arange(c.shape[1])] - t[np.maximum(p, 0)]) / 3.6e12
        delta = np.where(delta > max_kw * span_h, np.nan, delta)
    per_interval = delta / span
    # interval i (between readings i and i+1) takes its share of the span ending at the
    # first valid reading after i
    nxt = _next_valid_index(valid)[:, 1:]
    ok = nxt < c.shape[1]
    share = np.take_along_axis(per_interval, np.minimum(nxt, c.shape[1] - 1), axis=1)
    out: F64 = np.where(ok, share, np.nan)
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
