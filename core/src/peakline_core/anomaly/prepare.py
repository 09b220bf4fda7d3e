"""Everything about a batch that needs no recursion, vectorized over [time, series].

Turns raw readings into what the recursive detectors consume: which readings are usable,
the interval since the previous reading (s), the modelled value (the reading itself, or for
energy counters the consumption rate in units/s, rollovers unwrapped), whether the value is
unchanged, the seasonal bin, and the hard verdicts that need no statistics (outside physical
limits, impossible rate of change, counter reset or rollover).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peakline_core.anomaly.config import COUNTER_RESET, LIMIT, NONE, RATE, ROLLOVER
from peakline_core.anomaly.state import BINS, NO_TIME, Array

NS_PER_S = 1_000_000_000
NS_PER_HOUR = 3600 * NS_PER_S
VISIT_S = 3600.0
"""One visit of a seasonal bin is one hour of data."""


@dataclass(slots=True)
class Prepared:
    """Per-reading inputs of one batch; every array is [time, series] (C order)."""

    valid: Array  # bool: a usable, fresh reading
    ts: Array  # int64 UTC ns
    model_valid: Array  # bool: `x` is defined (counters need a previous reading)
    x: Array  # float64: value, or counter rate (units/s)
    dt_s: Array  # float64: seconds since the previous valid reading, NaN if none
    unchanged: Array  # bool: equal to the previous valid reading
    bin_index: Array  # int64: flat index into the batch's [series, BINS] profile
    visits: Array  # float64: this reading's weight in its bin, in visits (0 if unusable)
    hard_score: Array  # float32: score of the threshold-free verdicts
    hard_det: Array  # int8: detector of `hard_score`
    prev_ts: Array  # int64: timestamp of the previous valid reading
    change_ts: Array  # int64: when the current value was first seen (flatline onset)


def running_max(a: Array) -> Array:
    """Cumulative maximum down the time axis, in place ([T, S]; returns `a`).

    A row loop: numpy's own accumulate along axis 0 is several times slower on this layout.
    """
    for t in range(1, a.shape[0]):
        np.maximum(a[t - 1], a[t], out=a[t])
    return a


def previous_of(arr: Array, valid: Array, carried: Array) -> Array:
    """For each t, `arr` at the latest valid reading strictly before t, else `carried`."""
    out = np.empty_like(arr)
    if arr.shape[0]:
        out[0] = carried
    all_valid: list[bool] = np.asarray(valid.all(axis=1)).tolist()
    for t in range(1, arr.shape[0]):
        if all_valid[t - 1]:  # the common case: a plain shift
            out[t] = arr[t - 1]
        else:
            out[t] = np.where(valid[t - 1], arr[t - 1], out[t - 1])
    return out


def latest_of(arr: Array, valid: Array, carried: Array) -> Array:
    """For each t, `arr` at the latest valid reading at or before t, else `carried`."""
    out = np.empty_like(arr)
    all_valid: list[bool] = np.asarray(valid.all(axis=1)).tolist()
    for t in range(arr.shape[0]):
        if all_valid[t]:
            out[t] = arr[t]
        else:
            out[t] = np.where(valid[t], arr[t], out[t - 1] if t else carried)
    return out


def _bins_of_hours(hours: Array) -> Array:
    """Seasonal bin (hour of day, + 24 on weekends) of UTC-epoch local hours (int64);
    Monday = 0 (1970-01-01 was a Thursday)."""
    days = hours // 24
    week_day = days + 3
    week_day -= 7 * (week_day // 7)  # numpy's remainder is slower than floor division
    bins: Array = hours - 24 * days + 24 * (week_day >= 5)
    return bins


def seasonal_bins(hours: Array) -> Array:
    """Seasonal bin of each local hour ([T, S] int64). A batch spans few distinct hours, so
    the bins of its range are computed once and looked up."""
    if hours.size == 0:
        return hours.copy()
    first = int(hours.min())
    span = int(hours.max()) - first
    if span > hours.size:  # e.g. junk timestamps on missing readings: compute directly
        return _bins_of_hours(hours)
    table = _bins_of_hours(np.arange(first, first + span + 1, dtype=np.int64))
    return np.take(table, hours - first)


def prepare(
    st: dict[str, Array],
    ts_st: Array,
    values_st: Array,
    valid_st: Array | None,
    rollover_score: float,
) -> Prepared:
    """Vectorized pre-pass over a batch given as [series, time]; updates the 'last reading'
    fields of `st` (the batch's state rows) in place."""
    ts = np.ascontiguousarray(ts_st.T, dtype=np.int64)
    raw = np.ascontiguousarray(values_st.T, dtype=np.float64)
    valid = np.isfinite(raw)
    if valid_st is not None:
        valid &= valid_st.T
    # drop stale or duplicate timestamps: a reading must be newer than every earlier one
    # (each `where` below is skipped when its mask is all true: the same values, cheaper)
    seen = running_max(ts.copy() if valid.all() else np.where(valid, ts, NO_TIME))
    before = np.empty_like(seen)
    before[0] = st["last_ts"]
    np.maximum(seen[:-1], st["last_ts"][None, :], out=before[1:])
    valid &= ts > before

    prev_ts = previous_of(ts, valid, st["last_ts"])
    prev_raw = previous_of(raw, valid, st["last_raw"])
    has_prev = prev_ts != NO_TIME
    has_dt = has_prev & valid
    dt_s = (ts - prev_ts) / NS_PER_S
    all_dt = bool(has_dt.all())
    if not all_dt:
        dt_s = np.where(has_dt, dt_s, np.nan)
    delta = raw - prev_raw
    unchanged = valid & has_prev & (delta == 0)

    hard_score = np.zeros(raw.shape, dtype=np.float32)
    hard_det = np.full(raw.shape, NONE, dtype=np.int8)
    # hard verdicts and counter arithmetic only for batches holding series that need them
    is_counter = st["counter"]
    with np.errstate(invalid="ignore", divide="ignore"):
        if is_counter.any():
            counter = is_counter[None, :]
            rollover = st["rollover"][None, :]
            falling = valid & has_prev & (delta < 0)
            wrapped = falling & counter & (prev_raw > 0.5 * rollover)  # NaN rollover: False
            reset = falling & counter & ~wrapped
            delta = np.where(wrapped, delta + rollover, delta)
            rate = delta / dt_s
            model_valid = valid & (~counter | (has_prev & ~reset))
            x = np.where(counter, rate, raw)
            model_valid &= np.isfinite(x)
        else:
            wrapped = reset = None
            model_valid = valid.copy()
            x = raw
        checks: list[tuple[Array | None, int, float]] = [(wrapped, ROLLOVER, rollover_score)]
        max_rate = st["max_rate"]
        if np.isfinite(max_rate).any():
            rate = delta / dt_s if wrapped is None else rate
            checks.append((valid & (np.abs(rate) > max_rate[None, :]), RATE, 1.0))
        checks.append((reset, COUNTER_RESET, 1.0))
        lower, upper = st["lower"], st["upper"]
        if np.isfinite(lower).any() or np.isfinite(upper).any():
            outside = valid & ((raw < lower[None, :]) | (raw > upper[None, :]))
            checks.append((outside, LIMIT, 1.0))
    for mask, det, score in checks:
        if mask is not None and mask.any():
            hard_score[mask] = score
            hard_det[mask] = det

    offset = st["utc_offset_ns"]
    local = ts + offset[None, :] if offset.any() else ts
    bin_index = seasonal_bins(local // NS_PER_HOUR)
    bin_index += BINS * np.arange(raw.shape[1], dtype=np.int64)[None, :]
    weighted = model_valid & has_dt
    visits = np.minimum(dt_s, VISIT_S)
    if not (all_dt and weighted.all()):
        visits = np.where(weighted, visits, 0.0)
    visits /= VISIT_S

    changed_here = valid & ~unchanged
    change_ts = latest_of(ts, changed_here, st["last_change_ts"])
    if len(ts):
        st["last_ts"] = np.where(valid[-1], ts[-1], prev_ts[-1])
        st["last_raw"] = np.where(valid[-1], raw[-1], prev_raw[-1])
        st["last_change_ts"] = change_ts[-1]
    return Prepared(
        valid=valid,
        ts=ts,
        model_valid=model_valid,
        x=x if model_valid.all() else np.where(model_valid, x, 0.0),
        dt_s=dt_s,
        unchanged=unchanged,
        bin_index=bin_index,
        visits=visits,
        hard_score=hard_score,
        hard_det=hard_det,
        prev_ts=prev_ts,
        change_ts=change_ts,
    )
