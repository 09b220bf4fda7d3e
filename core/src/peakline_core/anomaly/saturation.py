"""A value held at the edge of everything a series has read is pinned, not frozen.

The flatline detector prices each repeat by how rarely the series' value stays unchanged in
that hour, so it cannot tell a stuck sensor from a device resting at a physical limit: a
heater at its rated maximum all night, a chiller off at 0 W in an hour it usually runs, a
flow at its base rate. A frozen reading holds whatever value the sensor last had, almost
always inside the series' range; a saturated one holds the range's edge. So a repeat of the
highest or the lowest value the series has ever read (the range the novelty detector keeps,
`nov_lo`/`nov_hi`) raises no flatline evidence. Counters are left to the stillness per
second of the kernel (a counter whose rate sits at 0 has stopped counting). Pure numpy; the
running range is computed only for series holding a repeat with flatline evidence.
"""

from __future__ import annotations

import numpy as np

from peakline_core.anomaly.prepare import Prepared, is_blank
from peakline_core.anomaly.state import Array


def pinned(nov_lo: Array, nov_hi: Array, counter: Array, p: Prepared, flat: Array) -> Array | None:
    """Flat indices into the chunk's [T, S] arrays of readings with flatline evidence
    (`flat` > 0) whose value is the lowest or highest the series has read (up to and
    including the reading; `nov_lo`/`nov_hi` ([S]) is the range before the chunk); None if
    there are none."""
    if is_blank(flat) or not flat.any():  # (the common case: no flatline evidence)
        return None
    cand = (flat > 0) & ~counter[None, :]
    cols = np.flatnonzero(cand.any(axis=0))
    if cols.size == 0:
        return None
    x = np.where(p.model_valid[:, cols], p.x[:, cols], np.nan)
    hi = np.empty_like(x)
    lo = np.empty_like(x)
    np.fmax(nov_hi[cols], x[0], out=hi[0])
    np.fmin(nov_lo[cols], x[0], out=lo[0])
    for t in range(1, x.shape[0]):  # running range, a row loop (see prepare.running_max)
        np.fmax(hi[t - 1], x[t], out=hi[t])
        np.fmin(lo[t - 1], x[t], out=lo[t])
    edge = cand[:, cols] & ((x >= hi) | (x <= lo))
    t_at, c_at = np.nonzero(edge)
    if t_at.size == 0:
        return None
    at: Array = t_at * flat.shape[1] + cols[c_at]
    return at
