"""Arming within hours: a young series' transient excursions open events before its season.

Seasonal, drift, flatline and gap evidence opens events only once a series has
`event_warmup_s` of data (one daily cycle). Spike and novelty need no season, so they arm
after `early_arm_s` (hours), but on a first-day baseline a routine schedule step (an HVAC plant
switching from 10 to 60 kW at 08:00) looks exactly like a fault the moment it happens: the
model has never seen it. What tells them apart is what follows, so until the series is
seasonally armed:

- a spike or novelty alarm starts an *excursion*, remembered with the modelled value before
  it (its base), how far it went and its peak score;
- the excursion is an event, opened at its first reading, once the series comes back within
  `early_return` of the distance it went (a glitch, a 5x spike, a dropout to 0 and back);
- an excursion that holds for `early_hold_s` is a regime change (a step that then holds,
  a sunrise, a schedule), not an event; it ends without one when the series returns or the
  detectors stop flagging it (its model has absorbed the new level).

Gap evidence is not armed early: a few hours of intervals are a thin model of an irregular
stream (on NAB, early gap alarms cost 2.5 points through the refractory stretch they start),
and the deriver's silence check already opens a gap event for a declared point from its
first reading (`AnomalyEngine.silent`).

The cost is one reading of delay for a first-day spike, and none once a series is armed:
series past `event_warmup_s` with nothing pending skip this module. Pure numpy; the loop
steps only through the time steps holding a young alarm or a pending excursion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peakline_core.anomaly.config import NONE, NOVELTY, SPIKE, AnomalyConfig
from peakline_core.anomaly.prepare import NS_PER_S, VISIT_S, Prepared, previous_of
from peakline_core.anomaly.rates import running_sum
from peakline_core.anomaly.state import NO_TIME, Array


@dataclass(slots=True)
class EarlyOpen:
    """Readings of a chunk (flat indices into its [T, S] arrays) where a young series may
    open an event, and the events that transient excursions open."""

    at: Array  # int64: readings that end a transient excursion; for each,
    peak: Array  # float32: the excursion's peak score,
    kind: Array  # int8: its detector at the peak,
    start: Array  # int64: and its first reading (UTC ns)


def young(st: dict[str, Array], settled: Array) -> bool:
    """Whether any series of the chunk is not yet seasonally armed or has an excursion
    pending (otherwise `arm` has nothing to do)."""
    return not bool(settled.all()) or bool((st["ex_ts"] != NO_TIME).any())


def arm(
    st: dict[str, Array],
    p: Prepared,
    score: Array,
    det: Array,
    settled: Array,
    span_before: Array,
    cfg: AnomalyConfig,
) -> EarlyOpen | None:
    """Early openings of a chunk from its combined `score`/`det` ([T, S], before the
    refractory cap), updating the excursion state (`ex_*`) in place; None when there are
    none. `settled` is the seasonal gate of each reading; `span_before` ([S]) the seconds of
    data seen before the chunk."""
    n_t, n_s = score.shape
    if n_t == 0:
        return None
    ex_ts, prev = st["ex_ts"], st["ex_prev"]
    with np.errstate(invalid="ignore"):
        hot = (score >= np.float32(cfg.event_open)) & ~settled
    # only series with a young alarm or a pending excursion are followed, step by step
    cols = np.flatnonzero(hot.any(axis=0) | (ex_ts != NO_TIME))
    found = None if cols.size == 0 else _follow(st, p, score, det, hot, span_before, cols, cfg)
    # the modelled value before the next chunk
    mv = p.model_valid
    if mv[-1].all():
        prev[:] = p.x[-1]
    else:
        has = mv.any(axis=0)
        last = n_t - 1 - np.argmax(mv[::-1], axis=0)
        np.copyto(prev, p.x[last, np.arange(n_s)], where=has)
    return found


def _follow(
    st: dict[str, Array],
    p: Prepared,
    score: Array,
    det: Array,
    hot: Array,
    span_before: Array,
    cols: Array,
    cfg: AnomalyConfig,
) -> EarlyOpen | None:
    n_t, n_s = score.shape
    ex_ts, base, far = st["ex_ts"], st["ex_base"], st["ex_far"]
    peak, kind, prev = st["ex_peak"], st["ex_kind"], st["ex_prev"]
    x = p.x[:, cols]
    mv = p.model_valid[:, cols]
    ts = p.ts[:, cols]
    sc = np.nan_to_num(score[:, cols], nan=0.0)
    dt = det[:, cols]
    span = running_sum(span_before[cols], p.visits[:, cols] * VISIT_S)[:-1]
    al = hot[:, cols] & (span >= cfg.early_arm_s) & mv & ((dt == SPIKE) | (dt == NOVELTY))
    e_ts, e_base, e_far = ex_ts[cols], base[cols], far[cols]
    e_peak, e_kind = peak[cols], kind[cols]
    before = previous_of(x, mv, prev[cols])  # the modelled value before each reading
    hold_ns = int(cfg.early_hold_s * NS_PER_S)
    close = np.float32(cfg.event_close)
    done_t: list[Array] = []
    done_c: list[Array] = []
    done_peak: list[Array] = []
    done_kind: list[Array] = []
    done_start: list[Array] = []
    alarm_steps = np.flatnonzero(al.any(axis=1))
    pending = bool((e_ts != NO_TIME).any())
    t = 0
    while t < n_t:
        if not pending:  # nothing to follow until the next young alarm
            k = int(np.searchsorted(alarm_steps, t))
            if k == alarm_steps.size:
                break
            t = int(alarm_steps[k])
        else:
            pend = e_ts != NO_TIME
            dist = np.abs(x[t] - e_base)
            back = mv[t] & pend & (dist <= cfg.early_return * e_far)
            done = back & (e_peak > 0)
            if done.any():
                done_t.append(np.full(int(done.sum()), t))
                done_c.append(cols[done])
                done_peak.append(e_peak[done])
                done_kind.append(e_kind[done])
                done_start.append(e_ts[done])
            # an excursion that holds is a regime change: it can no longer be an event
            held = pend & (ts[t] - np.where(pend, e_ts, ts[t]) > hold_ns)
            e_peak[held] = 0.0
            on = mv[t] & pend & ~back & (sc[t] >= close)
            e_far = np.where(on, np.maximum(e_far, dist), e_far)
            better = on & (e_peak > 0) & (sc[t] > e_peak)
            e_peak = np.where(better, sc[t], e_peak)
            e_kind = np.where(better & (dt[t] != NONE), dt[t], e_kind)
            e_ts[mv[t] & pend & ~on] = NO_TIME  # returned, or absorbed by the model
        new = al[t] & (e_ts == NO_TIME) & ~np.isnan(before[t])
        if new.any():
            e_ts[new] = ts[t][new]
            e_base[new] = before[t][new]
            e_far[new] = np.abs(x[t][new] - before[t][new])
            e_peak[new] = sc[t][new]
            e_kind[new] = dt[t][new]
        pending = bool((e_ts != NO_TIME).any())
        t += 1
    ex_ts[cols], base[cols], far[cols] = e_ts, e_base, e_far
    peak[cols], kind[cols] = e_peak, e_kind
    if not done_t:
        return None
    return EarlyOpen(
        np.concatenate(done_t) * n_s + np.concatenate(done_c),
        np.concatenate(done_peak),
        np.concatenate(done_kind),
        np.concatenate(done_start),
    )
