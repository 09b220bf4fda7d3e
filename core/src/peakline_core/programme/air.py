"""Air-quality summaries per district from hourly sensor means (pure numpy).

Thresholds: CO2 1000 ppm (a common indoor ventilation guideline, e.g. ASHRAE 62.1 practice
of ~700 ppm above outdoor) and PM2.5 15 ug/m3 (WHO 2021 24-hour guideline level).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

THRESHOLDS: Final = {"co2": 1000.0, "pm25": 15.0}
"""Hourly mean above which an hour counts as exceeding, per point (ppm, ug/m3)."""


@dataclass(frozen=True, slots=True)
class AirSummary:
    """Per group [G]: hours with data, mean, 95th percentile, max, share of hours above the
    threshold (NaN where a group has no data)."""

    hours: I64
    mean: F64
    p95: F64
    max: F64
    share_above: F64


def summarise(hourly: F64, group: I64, groups: int, threshold: float) -> AirSummary:
    """`hourly` [S, H] hourly means of one point per sensor (NaN = no data); `group` [S] the
    group index of each sensor in 0..groups-1. All sensors' hours of a group are pooled."""
    x = np.atleast_2d(np.asarray(hourly, dtype=np.float64))
    g = np.asarray(group, dtype=np.int64)
    hours = np.zeros(groups, dtype=np.int64)
    mean, p95, mx, share = (np.full(groups, np.nan) for _ in range(4))
    for k in range(groups):  # a handful of districts; the work inside is vectorized
        v = x[g == k].ravel()
        v = v[np.isfinite(v)]
        if not v.size:
            continue
        hours[k] = v.size
        mean[k], p95[k], mx[k] = v.mean(), np.percentile(v, 95), v.max()
        share[k] = float((v > threshold).mean())
    return AirSummary(hours, mean, p95, mx, share)
