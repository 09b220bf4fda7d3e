"""One incident, one alarm: repeats within a refractory stretch stay below `event_open`.

A reading scoring at least `event_open` is an alarm. Once a series has alarmed, its next
`alarm_refractory_readings` readings are capped just below `event_open`: they still say how
anomalous they are (an open event stays open above `event_close`), but a level shift that the
models take a while to absorb, or a burst of glitches, raises one alarm, not hundreds. Hard
verdicts (limits, resets) are never capped. Loops only over the time steps holding an alarm
candidate, which are rare.
"""

from __future__ import annotations

import numpy as np

from peakline_core.anomaly.config import HARD, AnomalyConfig
from peakline_core.anomaly.prepare import narrow
from peakline_core.anomaly.state import Array


def mute_repeats(
    st: dict[str, Array],
    score: Array,
    det: Array,
    valid: Array,
    may_open: Array,
    cfg: AnomalyConfig,
) -> tuple[Array, Array | None]:
    """(`score` with repeats capped, a copy when any is; bool [T, S] of the capped readings,
    None when none is), updating `alarm_r` (the reading count at the series' last alarm).
    Only readings that `may_open` an event alarm (or are capped): before a model is trusted
    to open events, nothing is held back. Call before the event tracker counts the
    readings."""
    with np.errstate(invalid="ignore"):
        cand = (score >= np.float32(cfg.event_open)) & may_open
    steps = np.flatnonzero(cand.any(axis=1))
    if steps.size == 0:
        return score, None
    # the reading count at each alarm: the carried count plus the valid readings up to it
    # (a cumsum down the time axis of the whole chunk is slow on this layout); only the
    # candidates' series are looked at
    reads0 = st["reads"].astype(np.int64)
    all_valid = bool(narrow(valid).all())
    r, done = reads0.copy(), 0
    last = st["alarm_r"]
    k = cfg.alarm_refractory_readings
    hard = np.asarray(HARD, dtype=det.dtype)
    mute_t: list[Array] = []
    mute_s: list[Array] = []
    for t in steps.tolist():
        at = np.flatnonzero(cand[t])
        if all_valid:
            r_at = reads0[at] + (t + 1)
        else:
            for row in valid[done : t + 1]:
                r += row
            done = t + 1
            r_at = r[at]
        repeat = r_at - last[at] <= k
        fresh = at[~repeat]
        last[fresh] = r_at[~repeat]
        mute = at[repeat]
        if mute.size:
            mute = mute[~np.isin(det[t, mute], hard)]
            mute_t.append(np.full(mute.size, t))
            mute_s.append(mute)
    t_at, s_at = np.concatenate(mute_t or [steps[:0]]), np.concatenate(mute_s or [steps[:0]])
    if t_at.size == 0:
        return score, None
    score = score.copy()
    cap = np.nextafter(np.float32(cfg.event_open), np.float32(0))
    score[t_at, s_at] = np.minimum(score[t_at, s_at], cap)
    muted = np.zeros(score.shape, dtype=bool)
    muted[t_at, s_at] = True
    return score, muted
