"""Is a memory series growing? Pure functions over (time s, MiB) samples.

The verdict looks at the second half of the run only (the first half holds start-up: imports,
connection pools, caches filling) and uses the Theil-Sen slope (median of the slopes between
every pair of samples): a steady leak makes every pair rise, while a one-off step (an allocator
arena, a cache reaching its size) moves only the pairs that straddle it, which stay a minority
unless the step falls in the middle of the window. Growth is declared when that slope exceeds
`GROWTH_MIB_PER_H` plus `GROWTH_PCT_PER_H` of the process's median size, per hour.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

import numpy as np

GROWTH_MIB_PER_H = 2.0  # absolute part of the threshold, MiB per hour
GROWTH_PCT_PER_H = 2.0  # relative part, % of the median RSS per hour


def theil_sen(t: Sequence[float], y: Sequence[float]) -> float:
    """Median of the pairwise slopes (units of y per unit of t); 0.0 for fewer than 2 points."""
    ta, ya = np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64)
    i, j = np.triu_indices(len(ta), k=1)
    dt = ta[j] - ta[i]
    keep = dt > 0
    if not keep.any():
        return 0.0
    return float(np.median((ya[j] - ya[i])[keep] / dt[keep]))


def ols(t: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope (units of y per unit of t); 0.0 for fewer than 2 points."""
    if len(t) < 2 or max(t) == min(t):
        return 0.0
    return float(np.polyfit(np.asarray(t, np.float64), np.asarray(y, np.float64), 1)[0])


def summarise(
    t: Sequence[float],
    mib: Sequence[float],
    abs_mib_per_h: float = GROWTH_MIB_PER_H,
    pct_per_h: float = GROWTH_PCT_PER_H,
) -> dict[str, Any]:
    """Start/mid/end (median of 3 samples around each), first/last-third medians, slopes over
    the second half in MiB/h (Theil-Sen and least squares), threshold and verdict."""
    n = len(mib)
    if n == 0:
        raise ValueError("no samples")

    def around(k: int) -> float:
        return round(statistics.median(mib[max(0, k - 1) : k + 2]), 1)

    third = max(1, n // 3)
    half = n // 2
    ts, ys = t[half:], mib[half:]
    slope = theil_sen(ts, ys) * 3600
    median = statistics.median(ys)
    threshold = abs_mib_per_h + pct_per_h / 100 * median
    return {
        "start_mib": around(1),
        "mid_mib": around(half),
        "end_mib": around(n - 2),
        "max_mib": round(max(mib), 1),
        "first_third_mib": round(statistics.median(mib[:third]), 1),
        "last_third_mib": round(statistics.median(mib[-third:]), 1),
        "slope_mib_per_h": round(slope, 2),
        "ols_slope_mib_per_h": round(ols(ts, ys) * 3600, 2),
        "threshold_mib_per_h": round(threshold, 2),
        "grows": slope > threshold,
        "samples": n,
        "window_s": round(ts[-1] - ts[0], 1) if len(ts) > 1 else 0.0,
    }
