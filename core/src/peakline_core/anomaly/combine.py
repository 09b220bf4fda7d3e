"""From detector evidence to one calibrated score per reading and the detector behind it.

Every detector's evidence is first put on one scale, a Gaussian-equivalent z (flatline
surprise S nats -> sqrt(2 S), since -ln P(|Z| > z) ~ z^2 / 2), then mapped by

    score = 1 - 2 ** (-(z - z_zero) / (z_half - z_zero))   for z > z_zero, else 0

so a reading scores 0 up to `z_zero`, 0.5 at `z_half` and tends to 1. The combined score is
the maximum over detectors (the strongest single piece of evidence), the detector is the one
that gave it; hard verdicts (limits, resets) score directly.
"""

from __future__ import annotations

import numpy as np

from peakline_core.anomaly.config import (
    DRIFT,
    FLATLINE,
    GAP,
    NONE,
    NOVELTY,
    SEASONAL,
    SPIKE,
    AnomalyConfig,
)
from peakline_core.anomaly.kernel import Evidence
from peakline_core.anomaly.prepare import Prepared, is_blank, narrow
from peakline_core.anomaly.state import Array


def z_to_score(z: Array, cfg: AnomalyConfig) -> Array:
    """Calibrated map of a Gaussian-equivalent z (>= 0) to a score in [0, 1] (float32)."""
    excess = np.maximum(np.asarray(z, dtype=np.float32) - np.float32(cfg.z_zero), 0)
    score: Array = np.float32(1.0) - np.exp2(-excess / np.float32(cfg.z_half - cfg.z_zero))
    return score


def combine(
    ev: Evidence, p: Prepared, cfg: AnomalyConfig, novelty: Array
) -> tuple[Array, Array, Array]:
    """Combined score (float32, NaN where no reading), detector code (int8) and onset time
    (int64 UTC ns: when the evidence started, e.g. the start of a run or of a gap), [T, S].
    `novelty` is the novelty detector's z ([T, S], see novelty.py)."""
    # most specific first: a clear spike is called a spike even if the seasonal residual
    # of the same reading is larger
    # (a detector without evidence in the chunk, a blank, is 0 everywhere: left out)
    ranked = tuple(
        (code, z)
        for code, z in (
            (GAP, ev.gap),
            (SPIKE, ev.spike),
            (SEASONAL, ev.seasonal),
            (DRIFT, ev.drift),
            (NOVELTY, novelty),
        )
        if not is_blank(z)
    )
    if not is_blank(ev.flat_nats) and ev.flat_nats.any():
        flat_z = np.zeros_like(ev.flat_nats)
        at = np.flatnonzero(ev.flat_nats != 0)  # (a test of a float block is slow)
        flat_z.reshape(-1)[at] = np.sqrt(np.float32(2.0) * ev.flat_nats.reshape(-1)[at])
        ranked = ((FLATLINE, flat_z), *ranked)
    if len(ranked) > 1:  # pairwise into one buffer: no stack
        best = np.maximum(ranked[0][1], ranked[1][1])
        for _, z in ranked[2:]:
            np.maximum(best, z, out=best)
    else:
        best = ranked[0][1] if ranked else np.zeros(novelty.shape, dtype=np.float32)
    score = np.zeros(best.shape, dtype=np.float32)
    det = np.full(best.shape, NONE, dtype=np.int8)
    # a z at or below z_zero scores 0 and names nothing: only the rest needs the mapping
    at = np.flatnonzero(~(best <= np.float32(cfg.z_zero)))
    if at.size:
        best_at = best.reshape(-1)[at]
        name_at = np.minimum(best_at, np.float32(cfg.z_half))
        det_at = np.full(at.shape, NONE, dtype=np.int8)
        for code, z in reversed(ranked):
            det_at[z.reshape(-1)[at] >= name_at] = code
        score_at = z_to_score(best_at, cfg)
        det_at[score_at <= 0] = NONE
        score.reshape(-1)[at] = score_at
        det.reshape(-1)[at] = det_at
    if (narrow(p.hard_det) != NONE).any():
        hard = (p.hard_det != NONE) & (p.hard_score >= score)
        score = np.where(hard, p.hard_score, score).astype(np.float32)
        det = np.where(hard, p.hard_det, det).astype(np.int8)
    if not narrow(p.valid).all():
        score[~p.valid] = np.nan
        det *= p.valid
    onset = p.ts  # copied only where some reading's evidence started earlier
    for code, when in ((GAP, p.prev_ts), (FLATLINE, p.change_ts)):
        named = det == code
        if named.any():
            if onset is p.ts:
                onset = p.ts.copy()
            np.copyto(onset, when, where=named)
    return score, det, onset
