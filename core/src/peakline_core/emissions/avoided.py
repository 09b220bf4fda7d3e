"""Avoided emissions, reported beside the inventory and never netted against it.

Each is energy not drawn from (or given to) the grid times a marginal factor (kgCO2e/kWh,
the emission rate of the generation that changes): PV exports, demand-response curtailment,
load shifting from high- to low-intensity hours.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from peakline_core.emissions._arrays import F64, as_2d
from peakline_core.emissions.errors import ShapeError


def _marginal(marginal: Any, shape: tuple[int, int]) -> F64:
    arr = np.asarray(marginal, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == shape[0]:
        arr = arr[:, np.newaxis]
    try:
        out: F64 = np.broadcast_to(arr, shape)
    except ValueError:
        raise ShapeError(f"marginal {arr.shape} does not fit {shape}") from None
    return out


def avoided_by_export(export_kwh: Any, marginal: Any) -> F64:
    """Avoided by exported PV, kgCO2e per interval: export (kWh) x marginal (kgCO2e/kWh)."""
    e = np.clip(as_2d("export_kwh", export_kwh), 0.0, None)
    return e * _marginal(marginal, e.shape)


def avoided_by_curtailment(shed_kwh: Any, marginal: Any) -> F64:
    """Avoided by demand response, kgCO2e per interval: verified shed kWh x marginal."""
    shed = np.clip(as_2d("shed_kwh", shed_kwh), 0.0, None)
    return shed * _marginal(marginal, shed.shape)


def avoided_by_shifting(baseline_kwh: Any, actual_kwh: Any, marginal: Any) -> F64:
    """Avoided by load shifting, kgCO2e per interval: (baseline - actual) kWh x marginal.

    Intervals the load moved into count negative, so a shift with no change of intensity
    avoids nothing; only the sum over the shift window is meaningful.
    """
    base = as_2d("baseline_kwh", baseline_kwh)
    act = as_2d("actual_kwh", actual_kwh)
    if base.shape != act.shape:
        raise ShapeError(f"baseline {base.shape} and actual {act.shape} differ")
    return (base - act) * _marginal(marginal, base.shape)
