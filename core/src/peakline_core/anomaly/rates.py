"""Per-reading inputs of the detector recursions that need no recursion, for a whole chunk.

Reading counts, hours of data seen and the learning rates that depend only on them or on the
interval since the previous reading are running sums and elementwise maps of the batch, so
they are computed up front over [time, series] instead of inside the time loop. Once every
series of the chunk is past its warm-up (the common case), the warm-up terms are constant and
the rates collapse to one product each, and rates that depend only on the interval are
computed once per time step when the series are polled in step ([T, 1], broadcast). Every
shortcut gives exactly the value of the general formula.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peakline_core.anomaly.config import AnomalyConfig
from peakline_core.anomaly.prepare import VISIT_S, Prepared, across, narrow
from peakline_core.anomaly.state import Array

LN2 = 0.6931471805599453


@dataclass(slots=True)
class Rates:
    """[T, S] (or broadcastable [T, 1]) per-reading rates, and the counts after the chunk."""

    mvf: Array  # float64: 1.0 where the reading is modelled
    dtz: Array  # float64: seconds since the previous reading, 0 if none
    mdtz: Array  # float64: seconds the modelled value spans (`Prepared.model_dt`), 0 if none
    has_dt: Array  # bool
    level_rate: Array  # robust level step, 0 where not modelled
    trend_share: Array  # share of a level correction that goes to the trend
    spread_rate: Array  # series-wide spread step, 0 where not modelled
    visit_w: Array  # weight of the reading's innovation in its visit (in visits)
    lam: Array  # drift chart step
    lam_var: Array  # variance of an in-control drift chart
    var_rate: Array  # drift variance step
    gap_ok: Array  # bool: the gap detector may score this reading
    gap_settled: Array | None  # bool: the interval is clipped before learning; None: all
    gap_w: Array  # interval model step
    keep_run: Array  # bool: a flatline run goes on through this reading
    span_run: Array  # [T + 1, S] (or [T + 1, 1]) seconds of data seen before each reading,
    # then after all
    n_end: Array  # readings modelled, after the chunk
    ndt_end: Array  # intervals seen, after the chunk


def halflife_rate(dt_s: Array, halflife_s: float) -> Array:
    """Exponential-forgetting weight of a reading arriving dt_s (>= 0, 0 if none) after the
    previous one."""
    rate: Array = -np.expm1(-LN2 * dt_s / halflife_s)
    return rate


def running_sum(first: Array, steps: Array) -> Array:
    """[T + 1, S]: `first` ([S]), then `first` plus the running sum of `steps` ([T, S], or a
    [T, 1] column for every series), summed in time order (the same rounding as adding step
    by step). When every series starts equal and steps by one column, the sum is one column
    written across."""
    n_s = first.shape[0]
    acc = np.empty((steps.shape[0] + 1, n_s), dtype=np.float64)
    if steps.shape[1] == 1 and n_s > 1 and bool((first == first[0]).all()):
        acc[:] = running_sum(first[:1], steps)
        return acc
    acc[0] = first
    acc[1:] = steps
    for t in range(1, acc.shape[0]):  # np.cumsum along axis 0 is ~10x slower on this layout
        np.add(acc[t - 1], acc[t], out=acc[t])
    return acc


def _running_count(first: Array, steps: Array) -> Array:
    """`running_sum`, as one [T + 1, 1] column when every series starts equal and steps by
    one column (`steps` [T, 1]), else [T + 1, S]."""
    if steps.shape[1] == 1 and first.shape[0] > 1 and bool((first == first[0]).all()):
        return running_sum(first[:1], steps)
    return running_sum(first, steps)


def _across(a: Array, n_s: int) -> Array:
    return across(a, n_s) if a.shape[1] == 1 and n_s > 1 else a


def chunk_rates(st: dict[str, Array], p: Prepared, cfg: AnomalyConfig, settled: Array) -> Rates:
    """Rates of a chunk from its prepared readings and the counts in `st`; writes
    `settled` ([T, S] bool: the series had `event_warmup_s` of data before the reading)."""
    n_t, n_s = p.x.shape
    # (fields the same for every series of a step are computed on as one column)
    model_valid = narrow(p.model_valid)
    all_m = bool(model_valid.all())  # then a product with `mvf` is a copy
    mvf = across(np.ones((n_t, 1)), n_s) if all_m else p.model_valid.astype(np.float64)
    dt_s = narrow(p.dt_s)
    has_dt_c = ~np.isnan(dt_s)
    dtz = np.where(has_dt_c, dt_s, 0.0)
    if dtz.shape[1] > 1 and (dtz == dtz[:, :1]).all():  # polled in step: one interval per step
        dtz = dtz[:, :1]
    has_dt = has_dt_c if has_dt_c.shape[1] == n_s else across(has_dt_c, n_s)
    # the model learns over the span its value covers (a counter's anchor span); the gap
    # detector over the interval between readings
    mdtz = dtz
    if p.model_dt is not p.dt_s:
        mdtz = np.where(np.isnan(p.model_dt), 0.0, p.model_dt)
    n0, ndt0 = st["n"], st["n_dt"]
    n_min = float(n0.min()) if n0.size else 0.0
    ndt_min = float(ndt0.min()) if ndt0.size else 0.0
    all_dt = bool(has_dt_c.all())
    # integer-valued counts: exact in any order
    n_end = n0 + (n_t if all_m else np.count_nonzero(p.model_valid, axis=0))
    ndt_end = ndt0 + (n_t if all_dt else np.count_nonzero(has_dt, axis=0))
    beta_n = -np.expm1(-LN2 / cfg.scale_halflife_readings)
    beta = np.minimum(halflife_rate(mdtz, cfg.scale_halflife_s), beta_n)

    # the running counts only matter while they are small; they never fall within a chunk
    alpha = cfg.level_alpha
    level_const = 1.0 / max(n_min, 1.0) <= alpha
    spread_const = n_min >= 2 and 1.0 / max(n_min - 1.0, 1.0) <= float(beta.min())
    if level_const and spread_const:  # and so n_min >= 2
        level_rate = np.full((n_t, 1), alpha) if all_m else alpha * mvf
        trend_share = np.full((mvf.shape[0], 1), 1 * cfg.trend_gamma)
        spread_rate = beta if all_m else beta * mvf
        visit_w = p.visits if all_m else p.visits * mvf
    else:
        mvf_c = narrow(mvf)
        n_run = _running_count(n0, mvf_c)  # before reading t: row t; after it: row t + 1
        n_before, n_after = n_run[:-1], n_run[1:]
        inv = 1.0 / np.maximum(n_after - 1.0, 1.0)
        spread_rate = np.maximum(beta, inv)  # ([T, 1] or [T, S], as the counts and beta)
        if n_min < 2:
            spread_rate = np.where(n_after >= 2, spread_rate, 0.0)
        if not all_m:
            spread_rate *= mvf
        if level_const and n_min >= 2:  # the spread's memory (days) is the longer warm-up
            level_rate = np.full((n_t, 1), alpha) if all_m else alpha * mvf
            trend_share = np.full((mvf.shape[0], 1), 1 * cfg.trend_gamma)
            visit_w = p.visits if all_m else p.visits * mvf
        else:
            level_rate = np.maximum(alpha, 1.0 / np.maximum(n_after, 1.0)) * mvf_c
            trend_share = (n_after >= 2) * cfg.trend_gamma
            visit_w = _across(narrow(p.visits) * (mvf_c * (n_before >= 1)), n_s)

    lam = halflife_rate(mdtz, cfg.drift_halflife_s)
    lam_var = np.maximum(lam / (2.0 - lam), 1e-12)

    gap_rate = -np.expm1(-LN2 / cfg.gap_halflife_readings)
    warm = cfg.gap_warmup_readings
    gap_settled: Array | None
    if ndt_min > warm and 1.0 / max(ndt_min, 1.0) <= gap_rate:
        gap_ok, gap_settled = has_dt, None
        # one step per time step when every reading has an interval (the same values)
        gap_w = np.full((n_t, 1), gap_rate) if all_dt else gap_rate * has_dt
    else:
        ndt_run = _running_count(ndt0, has_dt_c.astype(np.float64))
        gap_ok = _across(has_dt_c & (ndt_run[:-1] >= warm), n_s)
        gap_settled = ndt_run[1:] > warm
        gap_w = np.maximum(gap_rate, 1.0 / np.maximum(ndt_run[1:], 1.0)) * has_dt_c

    span_run = _running_count(st["span_s"], narrow(p.visits) * VISIT_S)
    if span_run[0].min(initial=np.inf) >= cfg.event_warmup_s:
        settled[:] = True
    else:
        np.greater_equal(span_run[:-1], cfg.event_warmup_s, out=settled)
    return Rates(
        mvf=mvf,
        dtz=dtz,
        mdtz=mdtz,
        has_dt=has_dt,
        level_rate=level_rate,
        trend_share=trend_share,
        spread_rate=spread_rate,
        visit_w=visit_w,
        lam=lam,
        lam_var=lam_var,
        var_rate=halflife_rate(mdtz, cfg.drift_var_halflife_s),
        gap_ok=gap_ok,
        gap_settled=gap_settled,
        gap_w=gap_w,
        keep_run=p.unchanged if bool(narrow(p.valid).all()) else p.unchanged | ~p.valid,
        span_run=span_run,
        n_end=n_end,
        ndt_end=ndt_end,
    )
