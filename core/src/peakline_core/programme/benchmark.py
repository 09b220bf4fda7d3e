"""Benchmark figures for G groups (cities or districts) at once.

Definitions, identical for every group so that cities compare:

- energy: imported (grid) electricity of the group's metered sites over the period, kWh;
- emissions: that energy times the location-based grid factor in force for each site's grid
  region, kgCO2e (computed per site by the caller, summed per group);
- intensity per capita (kgCO2e/person, cities only), per m2 of metered floor area
  (kgCO2e/m2 and kWh/m2) and per kWh (kgCO2e/kWh: the group's effective grid factor);
- trend: relative change of emissions against the previous period of the same length
  (negative = falling), NaN when the previous period has no data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Benchmark:
    """Per-group figures, [G] arrays; NaN where a denominator is missing or zero."""

    energy_kwh: F64
    emissions_kgco2e: F64
    kgco2e_per_capita: F64
    kgco2e_per_m2: F64
    kwh_per_m2: F64
    kgco2e_per_kwh: F64
    trend: F64


def _ratio(num: F64, den: F64) -> F64:
    ok = np.isfinite(den) & (den > 0)
    out: F64 = np.where(ok, num / np.where(ok, den, 1.0), np.nan)
    return out


def benchmark(
    energy_kwh: F64,
    emissions_kgco2e: F64,
    previous_kgco2e: F64,
    floor_area_m2: F64,
    population: F64,
) -> Benchmark:
    """Figures for G groups from their totals ([G] each; population NaN where unknown)."""
    e = np.asarray(energy_kwh, dtype=np.float64)
    c = np.asarray(emissions_kgco2e, dtype=np.float64)
    prev = np.asarray(previous_kgco2e, dtype=np.float64)
    return Benchmark(
        energy_kwh=e,
        emissions_kgco2e=c,
        kgco2e_per_capita=_ratio(c, np.asarray(population, dtype=np.float64)),
        kgco2e_per_m2=_ratio(c, np.asarray(floor_area_m2, dtype=np.float64)),
        kwh_per_m2=_ratio(e, np.asarray(floor_area_m2, dtype=np.float64)),
        kgco2e_per_kwh=_ratio(c, e),
        trend=_ratio(c - prev, prev),
    )


def combine_uncertainty(half_widths: F64) -> float:
    """Half-width of a sum of independent savings estimates (root sum of squares), same unit."""
    h = np.asarray(half_widths, dtype=np.float64)
    return float(np.sqrt(np.sum(h[np.isfinite(h)] ** 2)))
