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
from peakline_core.anomaly.state import Array


def mute_repeats(
    st: dict[str, Array],
    score: Array,
    det: Array,
    valid: Array,
    may_open: Array,
    cfg: AnomalyConfig,
) -> tuple[Array, Array]:
    """(`score` with repeats capped, a copy; bool [T, S] of the capped readings), updating
    `alarm_r` (the reading count at the series' last alarm). Only readings that `may_open` an
    event alarm (or are capped): before a model is trusted to open events, nothing is held
    back. Call before the event tracker counts the readings."""
    with np.errstate(invalid="ignore"):
        cand = (score >= np.float32(cfg.event_open)) & may_open
    steps = np.flatnonzero(cand.any(axis=1))
    muted = np.zeros(score.shape, dtype=bool)
    if steps.size == 0:
        return score, muted
    score = score.copy()
    # the reading count at each alarm step: the carried count plus the valid readings up to
    # it (a cumsum down the time axis of the whole chunk is slow on this layout)
    reads0 = st["reads"].astype(np.int64)
    all_valid = bool(valid.all())
    r, done = reads0.copy(), 0
    cap = np.nextafter(np.float32(cfg.event_open), np.float32(0))
    last = st["alarm_r"]
    k = cfg.alarm_refractory_readings
    for t in steps.tolist():
        c = cand[t]
        if all_valid:
            r = reads0 + (t + 1)
        else:
            for row in valid[done : t + 1]:
                r += row
            done = t + 1
        repeat = c & (r - last <= k)
        fresh = c & ~repeat
        last[fresh] = r[fresh]
        if not repeat.any():
            continue
        mute = repeat & ~np.isin(det[t], HARD)
        if mute.any():
            score[t, mute] = np.minimum(score[t, mute], cap)
            muted[t] = mute
    return score, muted
