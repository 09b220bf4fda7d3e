"""Events with hysteresis: one incident is one event, not one per anomalous reading.

An event opens at a reading scoring at least `event_open`; it stays open while readings
score at least `event_close`, and closes at the first reading that completes a quiet stretch
of `event_quiet_readings` readings *and* `event_quiet_s` seconds below `event_close`. Its end
is the last reading above `event_close`; its kind is the detector at its peak score.

Vectorized over [time, series]: with r the running count of readings, the event is active at
t exactly when the latest opening reading is more recent than the latest closing one, which
cumulative maxima give without a loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from peakline_core.anomaly.config import DETECTORS, AnomalyConfig
from peakline_core.anomaly.prepare import narrow, running_max
from peakline_core.anomaly.state import NO_TIME, Array

NS_PER_S = 1_000_000_000
_KEY_SCALE = float(2**20)


@dataclass(frozen=True, slots=True)
class AnomalyEvent:
    """One incident on one series. Times are UTC ns; `end_ns` is None while open."""

    series: str
    kind: str
    start_ns: int
    end_ns: int | None
    peak_score: float
    state: Literal["open", "closed"]


def _running_last(mask: Array, values: Array, carried: Array) -> Array:
    """For each t, `values` at the latest t' <= t where mask, else `carried` ([T, S])."""
    got = np.where(mask, values, np.iinfo(np.int64).min)
    np.maximum(got[0], carried, out=got[0])
    return running_max(got)


EVENT_FIELDS = ("reads", "ev_open", "ev_start", "ev_peak", "ev_kind", "ev_hot_ts", "ev_hot_r")


def track(
    st: dict[str, Array],
    keys: list[str],
    score: Array,
    det: Array,
    onset: Array,
    ts: Array,
    valid: Array,
    may_open: Array,
    cfg: AnomalyConfig,
) -> list[AnomalyEvent]:
    """Advance the event state rows `st` over a [T, S] batch; return events opened or closed.
    Only readings where `may_open` (bool [T, S]) can open an event; any can keep one open.

    Only series with an open event or a reading at `event_close` or above can open, keep or
    close one; the others just count their readings."""
    if score.shape[0] == 0:
        return []
    with np.errstate(invalid="ignore"):
        busy = (score >= cfg.event_close).any(axis=0) | st["ev_open"]
    if busy.all():
        return _track(st, keys, score, det, onset, ts, valid, may_open, cfg)
    all_valid = bool(narrow(valid).all())
    st["reads"] = st["reads"] + (score.shape[0] if all_valid else np.count_nonzero(valid, axis=0))
    rows = np.flatnonzero(busy)
    if rows.size == 0:
        return []
    sub = {k: st[k][rows] for k in EVENT_FIELDS}
    sub["reads"] -= score.shape[0] if all_valid else np.count_nonzero(valid[:, rows], axis=0)
    score, det, onset, ts, valid, may_open = (
        a[:, rows] for a in (score, det, onset, ts, valid, may_open)
    )
    found = _track(sub, [keys[i] for i in rows], score, det, onset, ts, valid, may_open, cfg)
    for k in EVENT_FIELDS:
        st[k][rows] = sub[k]
    return found


def _cumsum_rows(a: Array, first: Array) -> Array:
    """`first` plus the running sum of `a` down the time axis ([T, S], int64)."""
    out = a.astype(np.int64)
    out[0] += first
    for t in range(1, out.shape[0]):  # np.cumsum along axis 0 is slow on this layout
        np.add(out[t - 1], out[t], out=out[t])
    return out


def _track(
    st: dict[str, Array],
    keys: list[str],
    score: Array,
    det: Array,
    onset: Array,
    ts: Array,
    valid: Array,
    may_open: Array,
    cfg: AnomalyConfig,
) -> list[AnomalyEvent]:
    n_t = score.shape[0]
    sc = np.nan_to_num(score, nan=0.0)
    r = _cumsum_rows(valid, st["reads"])
    hot = valid & (sc >= cfg.event_close)
    on = valid & (sc >= cfg.event_open) & may_open
    hot_r = _running_last(hot, r, st["ev_hot_r"])
    hot_ts = _running_last(hot, ts, st["ev_hot_ts"])
    never_hot = hot_ts == NO_TIME
    since_hot = ts - np.where(never_hot, ts, hot_ts)  # no int64 overflow on the sentinel
    quiet = (
        valid
        & (r - hot_r >= cfg.event_quiet_readings)
        & (never_hot | (since_hot >= int(cfg.event_quiet_s * NS_PER_S)))
    )
    was_open = st["ev_open"]
    # virtual reading 0 before the batch: open rows start active, others inactive
    last_on = _running_last(on, r, np.where(was_open, 0, -1))
    last_quiet = _running_last(quiet, r, np.where(was_open, -1, 0))
    active = last_on > last_quiet

    before = np.empty_like(active)
    before[0] = was_open
    before[1:] = active[:-1]
    opens = active & ~before
    closes = before & ~active

    # segment peaks: (score, detector) packed in one sortable int64, max per segment
    key = np.where(active, np.round(sc * _KEY_SCALE).astype(np.int64) * 16 + det, -1).T.ravel()
    starts_st = opens.T.copy()
    starts_st[:, 0] |= was_open
    seg_pos = np.flatnonzero(starts_st)
    seg_peak = np.maximum.reduceat(key, seg_pos) if seg_pos.size else np.zeros(0, np.int64)
    seg_row, seg_t = np.divmod(seg_pos, n_t)
    carried = ~opens.T.ravel()[seg_pos]  # segment continues an event from an earlier batch
    peak = (seg_peak // 16) / _KEY_SCALE
    kind = (seg_peak % 16).astype(np.int8)
    prev_peak = st["ev_peak"][seg_row].astype(np.float64)
    better_before = carried & (prev_peak >= peak)
    peak = np.where(better_before, prev_peak, peak)
    kind = np.where(better_before, st["ev_kind"][seg_row], kind)
    start = np.where(carried, st["ev_start"][seg_row], onset.T[seg_row, seg_t])

    close_pos = np.flatnonzero(closes.T)
    close_seg = np.searchsorted(seg_pos, close_pos, side="right") - 1
    close_row, close_t = np.divmod(close_pos, n_t)
    close_end = hot_ts.T[close_row, close_t]
    closed_segs = np.zeros(seg_pos.size, dtype=bool)
    closed_segs[close_seg] = True

    events = [
        AnomalyEvent(
            keys[int(seg_row[i])],
            DETECTORS[int(kind[i])],
            int(start[i]),
            int(end),
            float(peak[i]),
            "closed",
        )
        for i, end in zip(close_seg, close_end, strict=True)
    ]
    for i in np.flatnonzero(~closed_segs & ~carried):
        events.append(
            AnomalyEvent(
                keys[int(seg_row[i])],
                DETECTORS[int(kind[i])],
                int(start[i]),
                None,
                float(peak[i]),
                "open",
            )
        )

    # carry: the last segment of each row still open at the end of the batch
    open_now = active[-1]
    last_seg = ~closed_segs
    rows = seg_row[last_seg]
    st["ev_start"][rows] = start[last_seg]
    st["ev_peak"][rows] = peak[last_seg]
    st["ev_kind"][rows] = kind[last_seg]
    st["ev_open"] = open_now
    st["reads"] = r[-1]
    st["ev_hot_r"] = hot_r[-1]
    st["ev_hot_ts"] = hot_ts[-1]
    return events
