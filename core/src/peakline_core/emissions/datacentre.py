"""Data-centre efficiency: PUE and WUE per site, per interval and over a period.

PUE = total facility energy / IT equipment energy (The Green Grid; ISO/IEC 30134-2), >= 1.
WUE = site water use (L) / IT equipment energy (kWh) (The Green Grid; ISO/IEC 30134-9).
Period figures are ratios of sums over the intervals where both meters have data (never a
mean of interval ratios). An interval whose facility energy is below its IT energy is a
metering fault: it has no PUE and is left out of the period figure (counted in `suspect`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from peakline_core.emissions._arrays import F64, I64, as_2d
from peakline_core.emissions.errors import ShapeError


@dataclass(frozen=True, slots=True)
class DataCentreMetrics:
    """PUE and WUE of data-centre sites, [sites, time] per interval and [sites] per period."""

    pue: F64
    """Per interval; NaN where IT energy is zero or missing, or facility < IT."""
    pue_period: F64
    """Sum of facility kWh over sum of IT kWh of the usable intervals; NaN without any."""
    wue: F64 | None
    """L/kWh IT per interval (None without a water meter)."""
    wue_period: F64 | None
    facility_kwh: F64
    """Facility energy of the usable intervals, [sites]."""
    it_kwh: F64
    """IT energy of the usable intervals, [sites]."""
    intervals_used: I64
    suspect: I64
    """Intervals with facility energy below IT energy, [sites]."""


def data_centre_metrics(facility_kwh: Any, it_kwh: Any, water_l: Any = None) -> DataCentreMetrics:
    """PUE (and WUE with `water_l`) from facility and IT energy per interval, [sites, time].

    `facility_kwh`: total facility energy (kWh), `it_kwh`: IT equipment energy (kWh),
    `water_l`: site water use (L), all [sites, time] on the same intervals (hourly, say).
    """
    fac = as_2d("facility_kwh", facility_kwh)
    it = as_2d("it_kwh", it_kwh)
    if fac.shape != it.shape:
        raise ShapeError(f"facility {fac.shape} and IT {it.shape} differ")
    both = np.isfinite(fac) & np.isfinite(it) & (it > 0)
    suspect = both & (fac < it)
    ok = both & ~suspect
    safe_it = np.where(ok, it, 1.0)
    pue = np.where(ok, fac / safe_it, np.nan)
    fac_sum = np.where(ok, fac, 0.0).sum(axis=1)
    it_sum = np.where(ok, it, 0.0).sum(axis=1)
    used = ok.sum(axis=1)
    pue_period = np.where(used > 0, fac_sum / np.where(it_sum > 0, it_sum, 1.0), np.nan)
    wue = wue_period = None
    if water_l is not None:
        w = as_2d("water_l", water_l)
        if w.shape != it.shape:
            raise ShapeError(f"water {w.shape} and IT {it.shape} differ")
        wok = np.isfinite(w) & np.isfinite(it) & (it > 0) & (w >= 0)
        wue = np.where(wok, w / np.where(wok, it, 1.0), np.nan)
        w_it = np.where(wok, it, 0.0).sum(axis=1)
        wue_period = np.where(
            w_it > 0, np.where(wok, w, 0.0).sum(axis=1) / np.where(w_it > 0, w_it, 1.0), np.nan
        )
    return DataCentreMetrics(
        pue=pue,
        pue_period=pue_period,
        wue=wue,
        wue_period=wue_period,
        facility_kwh=fac_sum,
        it_kwh=it_sum,
        intervals_used=used.astype(np.int64),
        suspect=suspect.sum(axis=1).astype(np.int64),
    )
