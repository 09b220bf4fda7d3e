"""Everything about a batch that needs no recursion, vectorized over [time, series].

Turns raw readings into what the recursive detectors consume: which readings are usable,
the interval since the previous reading (s), the modelled value (the reading itself, or for
energy counters the consumption rate in units/s, rollovers unwrapped), whether the value is
unchanged, the seasonal bin, and the hard verdicts that need no statistics (outside physical
limits, impossible rate of change, counter reset or rollover).

A counter's modelled rate is measured from an anchor reading, not from the previous reading:
a 0.1 kWh register read every 10 s moves by 0 or 0.1 per reading (0 or 36 kW), while a
model learnt on 15-minute readings knows a smooth rate. The anchor moves once the counter has
moved `counter_steps` resolution steps over at least `counter_min_span_s`, or after
`counter_max_span_s` whatever it moved; the readings between are scored by the hard verdicts,
the gap and the flatline detectors only. Coarse readings (each moving enough) are anchors
one by one, as before. The rate's quantization error (at most one step over the span) is
reported with it, so the statistical tests never judge a reading on its register's rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peakline_core.anomaly.config import (
    COUNTER_RESET,
    LIMIT,
    NONE,
    RATE,
    ROLLOVER,
    AnomalyConfig,
)
from peakline_core.anomaly.state import NO_TIME, Array

NS_PER_S = 1_000_000_000
NS_PER_HOUR = 3600 * NS_PER_S
VISIT_S = 3600.0
"""One visit of a seasonal bin is one hour of data."""


@dataclass(slots=True)
class Prepared:
    """Per-reading inputs of one batch; every array is [time, series]. Read-only: a field
    that is the same for every series of a step (series read in step: `ts`, `prev_ts`,
    `dt_s`, `model_dt`, `visits`; `valid`, `model_valid` when every reading is usable;
    `hard_score`, `hard_det` when no reading has a hard verdict) may be one [T, 1] column
    broadcast across series (`narrow` gives the column back)."""

    valid: Array  # bool: a usable, fresh reading
    ts: Array  # int64 UTC ns
    model_valid: Array  # bool: `x` is modelled (a counter's at its anchor moves only)
    x: Array  # float64: value, or counter rate (units/s) since its previous anchor
    dt_s: Array  # float64: seconds since the previous valid reading, NaN if none
    model_dt: Array  # float64: seconds `x` spans (a counter's anchor span; else `dt_s`)
    unchanged: Array  # bool: equal to the previous valid reading
    still: Array  # bool: `x` did not change over `model_dt` (what stillness learns from)
    step: Array | None  # float64: the value's register step (declared, else the smallest
    # change seen so far); None when no reading of the batch repeats (nothing to judge)
    x_err: Array | None  # float64: bound of `x`'s quantization error; None: all 0
    bins: Array  # int64: seasonal bin (0 to BINS - 1); [T, 1] when one per step
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


def narrow(a: Array) -> Array:
    """`a`, or its [T, 1] column when it is one column broadcast across series: the same
    values, so an elementwise map or a test computed on it costs one value per step."""
    if a.ndim == 2 and a.shape[1] > 1 and a.strides[1] == 0:
        return a[:, :1]
    return a


def is_blank(a: Array) -> bool:
    """Whether `a` is one value broadcast to [T, S] (a read-only view, e.g. a detector's
    evidence where it had none: see `kernel.Evidence`)."""
    return a.ndim == 2 and a.strides == (0, 0)


def across(column: Array, n_s: int) -> Array:
    """A [T, 1] column as a read-only [T, n_s] view (no copy)."""
    return np.broadcast_to(column, (column.shape[0], n_s))


def shared_timestamps(ts: Array) -> Array:
    """`ts` ([series, time]) as its first row broadcast to every series when all rows are
    equal (series read in step: a device's registers, a fleet polled on one clock), else
    `ts` itself. Compared in blocks of series: a batch read out of step stops early."""
    n_s = ts.shape[0]
    if ts.ndim != 2 or n_s < 2 or ts.strides[0] == 0 or ts.shape[1] == 0:
        return ts
    row = ts[0]
    if not bool((ts[:, 0] == row[0]).all()):
        return ts
    for lo in range(0, n_s, TRANSPOSE_ROWS):
        if not bool((ts[lo : lo + TRANSPOSE_ROWS] == row).all()):
            return ts
    return np.broadcast_to(row, ts.shape)


TRANSPOSE_ROWS = 512
"""Series per block of a layout change: the block's rows stay in cache while written."""


def time_major(a: Array, dtype: type[np.generic]) -> Array:
    """A [series, time] block as a C-ordered [time, series] copy of `dtype`, copied in
    blocks of series (a plain transposing copy misses the cache on every element)."""
    out = np.empty(a.shape[::-1], dtype=dtype)
    for lo in range(0, a.shape[0], TRANSPOSE_ROWS):
        out[:, lo : lo + TRANSPOSE_ROWS] = a[lo : lo + TRANSPOSE_ROWS].T
    return out


def series_major(out: Array, a: Array) -> None:
    """Write a [time, series] block into the [series, time] view `out`, in blocks."""
    for lo in range(0, a.shape[1], TRANSPOSE_ROWS):
        out[lo : lo + TRANSPOSE_ROWS] = a[:, lo : lo + TRANSPOSE_ROWS].T


SPARSE_SHARE = 16
"""A block with fewer than 1 in this many non-zero values is written value by value."""


def series_major_nonzero(out: Array, a: Array) -> None:
    """`series_major` into an `out` that already holds zeros (np.zeros): only the non-zero
    values of `a` (NaN included) are written when they are few (most scores are 0), so the
    zeros, and the cache misses of a transposing copy, cost nothing."""
    # non-zero bits (NaN and -0.0 included): a test of a float block is several times
    # slower than of its bits
    bits = a.view(np.dtype(f"u{a.dtype.itemsize}"))
    at = np.flatnonzero(bits != 0)
    if at.size * SPARSE_SHARE > a.size:
        series_major(out, a)
    elif at.size:
        t, s = np.divmod(at, a.shape[1])
        out[s, t] = a.reshape(-1)[at]


def previous_of(arr: Array, valid: Array, carried: Array) -> Array:
    """For each t, `arr` at the latest valid reading strictly before t, else `carried`."""
    out = np.empty_like(arr)
    if arr.shape[0]:
        out[0] = carried
    all_valid: list[bool] = np.asarray(valid.all(axis=1)).tolist()
    if all(all_valid[:-1]):  # the common case: a plain shift
        out[1:] = arr[:-1]
        return out
    for t in range(1, arr.shape[0]):
        if all_valid[t - 1]:
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
    cfg: AnomalyConfig,
) -> Prepared:
    """Vectorized pre-pass over a batch given as [series, time]; updates the 'last reading'
    and counter anchor fields of `st` (the batch's state rows) in place. Series read in step
    (`ts_st` one row broadcast to every series, see `shared_timestamps`) take a shorter path
    when every reading is usable."""
    raw = time_major(values_st, np.float64)
    if ts_st.shape[0] and (ts_st.shape[0] == 1 or ts_st.strides[0] == 0):
        fast = _prepare_in_step(st, ts_st[0], raw, valid_st, cfg)
        if fast is not None:
            return fast
    ts = time_major(ts_st, np.int64)
    valid = np.isfinite(raw)
    if valid_st is not None:
        valid &= valid_st.T
    # drop stale or duplicate timestamps: a reading must be newer than every earlier one
    # (each `where` below is skipped when its mask is all true: the same values, cheaper)
    all_valid = bool(valid.all())
    if not (
        all_valid and bool((ts[0] > st["last_ts"]).all()) and bool((ts[1:] > ts[:-1]).all())
    ):  # (the common case, every row increasing past the last reading, drops nothing)
        seen = running_max(ts.copy() if all_valid else np.where(valid, ts, NO_TIME))
        before = np.empty_like(seen)
        before[0] = st["last_ts"]
        np.maximum(seen[:-1], st["last_ts"][None, :], out=before[1:])
        valid &= ts > before

    prev_ts = previous_of(ts, valid, st["last_ts"])
    prev_raw = previous_of(raw, valid, st["last_raw"])
    has_prev = prev_ts != NO_TIME
    has_dt = has_prev & valid
    all_dt = bool(has_dt.all())
    dt_s = _intervals(ts - prev_ts, has_dt, all_dt)
    delta = raw - prev_raw
    unchanged = valid & has_prev & (delta == 0)

    hard_score = np.zeros(raw.shape, dtype=np.float32)
    hard_det = np.full(raw.shape, NONE, dtype=np.int8)
    # hard verdicts and counter arithmetic only for batches holding series that need them
    is_counter = st["counter"]
    model_dt, still, x_err = dt_s, unchanged, None
    with np.errstate(invalid="ignore", divide="ignore"):
        if is_counter.any():
            counter = is_counter[None, :]
            rollover = st["rollover"][None, :]
            falling = valid & has_prev & (delta < 0)
            wrapped = falling & counter & (prev_raw > 0.5 * rollover)  # NaN rollover: False
            reset = falling & counter & ~wrapped
            delta = np.where(wrapped, delta + rollover, delta)
            rate = delta / dt_s
            span = anchor_spans(st, ts, delta, valid, prev_ts, reset, cfg)
            model_valid = valid & (~counter | span.moved)
            x = np.where(counter, span.rate, raw)
            model_valid &= np.isfinite(x)
            model_dt = np.where(counter, span.span_s, dt_s)
            still = np.where(counter, span.still, unchanged)
            x_err = span.err
        else:
            wrapped = reset = None
            model_valid = valid.copy()
            x = raw
        checks: list[tuple[Array | None, int, float]] = [(wrapped, ROLLOVER, cfg.rollover_score)]
        max_rate = st["max_rate"]
        if np.isfinite(max_rate).any():
            rate = delta / dt_s if wrapped is None else rate
            checks.append((valid & _too_fast(st, rate, delta, dt_s), RATE, 1.0))
        checks.append((reset, COUNTER_RESET, 1.0))
        outside = _outside(st, raw)
        if outside is not None:
            checks.append((valid & outside, LIMIT, 1.0))
    for mask, det, score in checks:
        if mask is not None and mask.any():
            hard_score[mask] = score
            hard_det[mask] = det

    offset = st["utc_offset_ns"]
    local = ts + offset[None, :] if offset.any() else ts
    bins = _step_bins(local)
    if model_dt is dt_s:
        weighted = model_valid & has_dt
        all_weighted = all_dt and bool(weighted.all())
    else:
        weighted = model_valid & ~np.isnan(model_dt)
        all_weighted = bool(weighted.all())
    visits = np.minimum(narrow(model_dt), VISIT_S)  # ([T, 1] with one interval per step)
    if not all_weighted:
        visits = np.where(weighted, visits, 0.0)
    visits /= VISIT_S
    if visits.shape[1] < raw.shape[1]:
        visits = across(visits, raw.shape[1])

    step = value_steps(st, delta, valid & has_prev & ~unchanged, unchanged)

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
        model_dt=model_dt,
        unchanged=unchanged,
        still=still,
        step=step,
        x_err=x_err,
        bins=bins,
        visits=visits,
        hard_score=hard_score,
        hard_det=hard_det,
        prev_ts=prev_ts,
        change_ts=change_ts,
    )


def _intervals(dt_ns: Array, has_dt: Array, all_dt: bool) -> Array:
    """Seconds since the previous reading ([T, S] from int64 ns; NaN where none): one [T, 1]
    column broadcast across series when every series of each step has the same interval
    (series polled on one period, each on its own clock), as for series read in step."""
    if all_dt and dt_ns.shape[1] > 1 and bool((dt_ns == dt_ns[:, :1]).all()):
        return across(dt_ns[:, :1] / NS_PER_S, dt_ns.shape[1])
    dt_s: Array = dt_ns / NS_PER_S
    return dt_s if all_dt else np.where(has_dt, dt_s, np.nan)


def _step_bins(local: Array) -> Array:
    """Seasonal bins of local times `local` ([T, S] int64 ns): one [T, 1] column when every
    series of each step is in one local hour (series read in step, or on one period each on
    its own clock: the earliest and latest local time of the step fall in one hour)."""
    if local.shape[1] > 1:
        first = local.min(axis=1, keepdims=True) // NS_PER_HOUR
        if bool((first == local.max(axis=1, keepdims=True) // NS_PER_HOUR).all()):
            return seasonal_bins(first)
    return seasonal_bins(local // NS_PER_HOUR)


def _too_fast(st: dict[str, Array], rate: Array, delta: Array, dt_s: Array) -> Array:
    """Readings changing faster than the series' `max_rate` (bool [T, S])."""
    # a step of one resolution unit may be rounding, not flow (0.1 kWh in 1 s)
    resolution = st["resolution"]
    if np.isfinite(resolution).any():
        excess = np.maximum(np.abs(delta) - np.nan_to_num(resolution, nan=0.0), 0.0)
        rate = excess / dt_s
    fast: Array = np.abs(rate) > st["max_rate"][None, :]
    return fast


def _outside(st: dict[str, Array], raw: Array) -> Array | None:
    """Readings outside the series' physical limits (bool [T, S]); None when none declares
    any."""
    lower, upper = st["lower"], st["upper"]
    if not (np.isfinite(lower).any() or np.isfinite(upper).any()):
        return None
    outside: Array = (raw < lower[None, :]) | (raw > upper[None, :])
    return outside


def _hard_verdicts(
    shape: tuple[int, ...], checks: list[tuple[Array | None, int, float]]
) -> tuple[Array, Array]:
    """`hard_score` and `hard_det` from (mask, detector, score) checks, later ones winning;
    zero columns broadcast across series when no check hits."""
    hits = [(mask, det, score) for mask, det, score in checks if mask is not None and mask.any()]
    if not hits:
        n_t, n_s = shape
        return (
            across(np.zeros((n_t, 1), np.float32), n_s),
            across(np.full((n_t, 1), NONE, np.int8), n_s),
        )
    hard_score = np.zeros(shape, dtype=np.float32)
    hard_det = np.full(shape, NONE, dtype=np.int8)
    for mask, det, score in hits:
        hard_score[mask] = score
        hard_det[mask] = det
    return hard_score, hard_det


def _prepare_in_step(
    st: dict[str, Array],
    ts_row: Array,
    raw: Array,
    valid_st: Array | None,
    cfg: AnomalyConfig,
) -> Prepared | None:
    """`prepare` for series read in step (`ts_row` [T]: every series' timestamps) with the
    same last reading time, every reading usable and fresh, no counter: whatever depends
    only on time is one [T, 1] column broadcast across series, and the readings take a few
    elementwise passes. The same values as the general path; None when it does not apply."""
    n_t, n_s = raw.shape
    last_ts = st["last_ts"]
    if n_t == 0 or st["counter"].any() or not bool((last_ts == last_ts[0]).all()):
        return None
    if valid_st is not None and not bool(np.all(valid_st)):
        return None
    # every reading finite (a sum of finite values overflows only in freak cases, which
    # take the general path)
    with np.errstate(over="ignore", invalid="ignore"):
        if not np.isfinite(raw.sum()):
            return None
    ts_c = ts_row.astype(np.int64, copy=False).reshape(n_t, 1)
    last = int(last_ts[0])
    if not (int(ts_c[0, 0]) > last and bool((ts_c[1:] > ts_c[:-1]).all())):
        return None  # a stale or repeated timestamp: the general path drops it
    prev_c = np.empty_like(ts_c)
    prev_c[0] = last
    prev_c[1:] = ts_c[:-1]
    has_prev = prev_c != NO_TIME
    dt_c = (ts_c - prev_c) / NS_PER_S
    first_prev = bool(has_prev[0, 0])  # only the first reading can lack a previous one
    if not first_prev:
        dt_c = np.where(has_prev, dt_c, np.nan)

    delta = np.empty_like(raw)
    np.subtract(raw[0], st["last_raw"], out=delta[0])
    np.subtract(raw[1:], raw[:-1], out=delta[1:])
    unchanged = delta == 0
    if not first_prev:
        unchanged[0] = False

    checks: list[tuple[Array | None, int, float]] = []
    with np.errstate(invalid="ignore", divide="ignore"):
        if np.isfinite(st["max_rate"]).any():
            checks.append((_too_fast(st, delta / dt_c, delta, dt_c), RATE, 1.0))
        checks.append((_outside(st, raw), LIMIT, 1.0))
    hard_score, hard_det = _hard_verdicts(raw.shape, checks)

    offset = st["utc_offset_ns"]
    if bool((offset == offset[0]).all()):  # one local time per step: one column of bins
        hours = (ts_c + offset[0] if offset[0] else ts_c) // NS_PER_HOUR
    else:
        hours = (ts_c + offset[None, :]) // NS_PER_HOUR
    bins = seasonal_bins(hours)
    visits = np.minimum(dt_c, VISIT_S)
    if not first_prev:
        visits = np.where(has_prev, visits, 0.0)
    visits /= VISIT_S

    repeats = bool(unchanged.any())
    if repeats:
        changed = ~unchanged
        if not first_prev:
            changed[0] = False
        step = value_steps(st, delta, changed, unchanged)
        change_ts = latest_of(across(ts_c, n_s), ~unchanged, st["last_change_ts"])
    else:  # every reading changed: the smallest change in one reduction
        moved = delta if first_prev else delta[1:]
        # (delta is not read again: its magnitude in place)
        smallest = np.min(np.abs(moved, out=moved), axis=0, initial=np.inf)
        st["value_step"] = np.minimum(st["value_step"], smallest)
        step = None
        change_ts = across(ts_c, n_s)
    st["last_ts"] = np.full(n_s, ts_c[-1, 0], dtype=np.int64)
    st["last_raw"] = raw[-1].copy()
    st["last_change_ts"] = change_ts[-1].copy()
    usable = across(np.ones((n_t, 1), dtype=bool), n_s)
    dt_s = across(dt_c, n_s)
    return Prepared(
        valid=usable,
        ts=across(ts_c, n_s),
        model_valid=usable,
        x=raw,
        dt_s=dt_s,
        model_dt=dt_s,
        unchanged=unchanged,
        still=unchanged,
        step=step,
        x_err=None,
        bins=bins,
        visits=across(visits, n_s),
        hard_score=hard_score,
        hard_det=hard_det,
        prev_ts=across(prev_c, n_s),
        change_ts=change_ts,
    )


def value_steps(st: dict[str, Array], delta: Array, changed: Array, repeats: Array) -> Array | None:
    """The register step of each reading's series ([T, S]): declared, else the smallest
    change seen up to the reading; updates `value_step` of `st`. None (only the state is
    updated) when no reading repeats: the step is only read to judge a repeat."""
    declared = st["resolution"]
    if not repeats.any():  # the common case: the state's smallest change, in one reduction
        if changed.all():
            smallest = np.min(np.abs(delta), axis=0, initial=np.inf)
        else:
            smallest = np.min(np.abs(delta), axis=0, initial=np.inf, where=changed)
        st["value_step"] = np.minimum(st["value_step"], smallest)
        return None
    seen = np.where(changed, np.abs(delta), np.inf)
    seen[0] = np.minimum(seen[0], st["value_step"])
    for t in range(1, seen.shape[0]):
        np.minimum(seen[t - 1], seen[t], out=seen[t])
    st["value_step"] = seen[-1].copy()
    if np.isfinite(declared).any():
        seen = np.where(np.isfinite(declared)[None, :], declared[None, :], seen)
    return seen


@dataclass(slots=True)
class AnchorSpans:
    """Counters' modelled readings ([T, S]; only counter columns are meaningful)."""

    moved: Array  # bool: the anchor moves at this reading: `rate` is modelled
    rate: Array  # float64: units/s since the previous anchor (NaN where not moved)
    span_s: Array  # float64: seconds since the previous anchor (NaN where not moved)
    still: Array  # bool: the counter did not move over the span
    err: Array  # float64: bound of the rate's quantization error (units/s; 0 elsewhere)


def anchor_spans(
    st: dict[str, Array],
    ts: Array,
    delta: Array,
    valid: Array,
    prev_ts: Array,
    reset: Array,
    cfg: AnomalyConfig,
) -> AnchorSpans:
    """Where each counter's anchor moves ([T, S]: `ts` UTC ns, `delta` the unwrapped step
    since the previous valid reading at `prev_ts`, `reset` a counter reset); updates
    `anchor_ts`, `anchor_sum` and `step_min` of `st` in place.

    A recursion over time (where an anchor moves depends on where it last moved), vectorized
    across the counter columns only."""
    n_t, n_s = ts.shape
    moved = np.zeros((n_t, n_s), dtype=bool)
    rate = np.full((n_t, n_s), np.nan)
    span_out = np.full((n_t, n_s), np.nan)
    still = np.zeros((n_t, n_s), dtype=bool)
    err = np.zeros((n_t, n_s))
    cols = np.flatnonzero(st["counter"])
    if n_t == 0 or cols.size == 0:
        return AnchorSpans(moved, rate, span_out, still, err)
    ts_c, valid_c = ts[:, cols], valid[:, cols]
    stepped = valid_c & (prev_ts[:, cols] != NO_TIME)
    restart = reset[:, cols]
    d = np.where(stepped, delta[:, cols], 0.0)
    # the register's resolution: declared, else the smallest step seen over short intervals
    # (0 until one is seen: coarse readings are modelled one by one, with no rounding floor)
    since = ts_c - np.where(stepped, prev_ts[:, cols], ts_c)
    short = since <= int(cfg.counter_step_learn_s * NS_PER_S)
    step = np.where(stepped & (d > 0) & short, d, np.inf)
    step[0] = np.minimum(step[0], st["step_min"][cols])
    for t in range(1, n_t):
        np.minimum(step[t - 1], step[t], out=step[t])
    declared = st["resolution"][cols]
    q = np.where(np.isfinite(declared)[None, :], declared[None, :], step)
    q = np.where(np.isfinite(q), q, 0.0)
    need = cfg.counter_steps * q
    min_s, max_s = cfg.counter_min_span_s, cfg.counter_max_span_s
    a_ts = st["anchor_ts"][cols].copy()
    a_sum = st["anchor_sum"][cols].copy()
    for t in range(n_t):
        v = valid_c[t]
        # the first reading of a counter, or a reset, starts a new anchor (nothing modelled)
        fresh = (a_ts == NO_TIME) | restart[t]
        grow = v & ~fresh
        a_sum += np.where(grow, d[t], 0.0)
        span = (ts_c[t] - np.where(fresh, ts_c[t], a_ts)) / NS_PER_S
        mv = grow & (((a_sum >= need[t]) & (span >= min_s)) | (span >= max_s))
        if mv.any():
            moved[t, cols] = mv
            rate[t, cols] = np.where(mv, a_sum / span, np.nan)
            span_out[t, cols] = np.where(mv, span, np.nan)
            still[t, cols] = mv & (a_sum == 0)
            err[t, cols] = np.where(mv, q[t] / span, 0.0)
        renew = mv | (v & fresh)
        a_ts = np.where(renew, ts_c[t], a_ts)
        a_sum = np.where(renew, 0.0, a_sum)
    st["anchor_ts"][cols] = a_ts
    st["anchor_sum"][cols] = a_sum
    st["step_min"][cols] = step[-1]
    return AnchorSpans(moved, rate, span_out, still, err)
