"""Scope 1 fugitive emissions of refrigerants (HFC phase-down), by the mass-balance method.

Per HVAC/chiller asset and year: refrigerant emitted (kg) = top-ups for servicing + charge of
retired equipment not recovered (GHG Protocol HFC/PFC tool and EPA's simplified material
balance: refrigerant that had to be put back had leaked). Times the refrigerant's 100-year
GWP from the programme's set (AR4, AR5, AR6); a blend's GWP is the mass-weighted sum of its
components'. HCFCs (R-22) are ozone-depleting substances controlled by the Montreal Protocol,
not Kyoto gases: their CO2e is reported apart, never in Scope 1.

Sources of the figures (checked Dec 2026 with the stored repository index):

- AR4 (IPCC AR4 WG1 Table 2.14) and AR5 (IPCC AR5 WG1 Ch. 8 Table 8.A.1) GWP100 of HFC-32,
  HFC-125, HFC-134a, HFC-143a, HFC-152a and HCFC-22, and AR6 (IPCC AR6 WG1 Ch. 7
  Supplementary Table 7.SM.7) for the same: as tabulated by openclimatedata/
  globalwarmingpotentials (globalwarmingpotentials.csv, which cites the GHG Protocol's
  "Global Warming Potential Values" (2016) for AR4/AR5 and Table 7.SM.7 for AR6); the AR4 and
  AR5 columns agree with openscm/openscm-units (metric_conversions.csv), which cites the same
  GHG Protocol table, including R-410A: 2088 (AR4) and 1924 (AR5), our composition-weighted
  2087.5 and 1923.5 rounded. Not read in the IPCC reports themselves.
- Blend compositions (mass %): ANSI/ASHRAE Standard 34-2019, as tabulated by openscm-units
  (data/mixtures.yaml): R-410A 50/50 HFC-32/HFC-125; R-407C 23/25/52 HFC-32/125/134a;
  R-404A 44/52/4 HFC-125/143a/134a; R-507A 50/50 HFC-125/143a.
- HFO-1234yf and HFO-1234ze(E): not in those tables. AR5 Table 8.A.1 gives "<1" for both
  (shipped as 1, an upper bound) and AR4 no value (AR5's stands in); AR6 0.501 (1234yf) and
  1.37 (1234ze(E)) are quoted from memory of Table 7.SM.7 and NOT verified here.
- R-744 (CO2) is 1 by definition; R-290 (propane) and R-717 (ammonia) are not shipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from peakline_core.emissions._arrays import F64
from peakline_core.emissions.errors import EmissionsError, ShapeError
from peakline_core.emissions.gwp import GwpSet

COMPONENT_GWP: Final[dict[str, dict[GwpSet, float]]] = {
    "HFC-32": {"AR4": 675.0, "AR5": 677.0, "AR6": 771.0},
    "HFC-125": {"AR4": 3500.0, "AR5": 3170.0, "AR6": 3740.0},
    "HFC-134a": {"AR4": 1430.0, "AR5": 1300.0, "AR6": 1530.0},
    "HFC-143a": {"AR4": 4470.0, "AR5": 4800.0, "AR6": 5810.0},
    "HFC-152a": {"AR4": 124.0, "AR5": 138.0, "AR6": 164.0},
    "HCFC-22": {"AR4": 1810.0, "AR5": 1760.0, "AR6": 1960.0},
    "HFO-1234yf": {"AR4": 1.0, "AR5": 1.0, "AR6": 0.501},  # AR6 figure unverified
    "HFO-1234ze(E)": {"AR4": 1.0, "AR5": 1.0, "AR6": 1.37},  # AR6 figure unverified
    "CO2": {"AR4": 1.0, "AR5": 1.0, "AR6": 1.0},
}
"""100-year GWP of single-component refrigerants by assessment report (see module doc)."""

UNVERIFIED: Final[frozenset[tuple[str, GwpSet]]] = frozenset(
    {("HFO-1234yf", "AR6"), ("HFO-1234ze(E)", "AR6")}
)

NON_KYOTO: Final[frozenset[str]] = frozenset({"HCFC-22"})
"""Montreal Protocol substances: CO2e reported apart, not in Scope 1."""

REFRIGERANTS: Final[dict[str, dict[str, float]]] = {
    "R-32": {"HFC-32": 1.0},
    "R-125": {"HFC-125": 1.0},
    "R-134a": {"HFC-134a": 1.0},
    "R-143a": {"HFC-143a": 1.0},
    "R-152a": {"HFC-152a": 1.0},
    "R-22": {"HCFC-22": 1.0},
    "R-1234yf": {"HFO-1234yf": 1.0},
    "R-1234ze(E)": {"HFO-1234ze(E)": 1.0},
    "R-744": {"CO2": 1.0},
    "R-410A": {"HFC-32": 0.50, "HFC-125": 0.50},
    "R-407C": {"HFC-32": 0.23, "HFC-125": 0.25, "HFC-134a": 0.52},
    "R-404A": {"HFC-125": 0.44, "HFC-143a": 0.52, "HFC-134a": 0.04},
    "R-507A": {"HFC-125": 0.50, "HFC-143a": 0.50},
}
"""ASHRAE refrigerant number -> mass fraction of each component (ASHRAE 34-2019)."""


@dataclass(frozen=True, slots=True)
class RefrigerantGwp:
    """GWP of one refrigerant, split into its Kyoto and non-Kyoto (HCFC) parts."""

    refrigerant: str
    gwp_set: GwpSet
    kyoto: float
    """kgCO2e per kg of refrigerant from its HFC/HFO/CO2 components (Scope 1)."""
    non_kyoto: float
    """kgCO2e per kg from HCFC components (reported apart)."""
    verified: bool

    @property
    def total(self) -> float:
        return self.kyoto + self.non_kyoto


def refrigerant_gwp(refrigerant: str, gwp: GwpSet) -> RefrigerantGwp:
    """The 100-year GWP of `refrigerant` (e.g. "R-410A") under `gwp`, composition-weighted."""
    parts = REFRIGERANTS.get(refrigerant)
    if parts is None:
        raise EmissionsError(f"unknown refrigerant {refrigerant!r}; known: {sorted(REFRIGERANTS)}")
    kyoto = sum(w * COMPONENT_GWP[c][gwp] for c, w in parts.items() if c not in NON_KYOTO)
    other = sum(w * COMPONENT_GWP[c][gwp] for c, w in parts.items() if c in NON_KYOTO)
    verified = not any((c, gwp) in UNVERIFIED for c in parts)
    return RefrigerantGwp(refrigerant, gwp, kyoto, other, verified)


@dataclass(frozen=True, slots=True)
class RefrigerantResult:
    """Fugitive emissions of refrigerant assets over one year, per asset [assets]."""

    emitted_kg: F64
    """Refrigerant mass emitted (mass balance), kg."""
    co2e_kg: F64
    """Kyoto part, kgCO2e: Scope 1."""
    non_kyoto_co2e_kg: F64
    """HCFC part, kgCO2e: reported apart."""
    leak_rate: F64
    """Top-ups over the charge (NaN without a charge)."""
    leaking: np.ndarray[Any, np.dtype[np.bool_]]
    """Top-ups reaching `threshold` of the charge in the year (or more)."""


def fugitive_refrigerants(
    refrigerants: list[str],
    charge_kg: Any,
    top_up_kg: Any,
    gwp: GwpSet,
    *,
    retired_charge_kg: Any = 0.0,
    recovered_kg: Any = 0.0,
    threshold: float = 0.10,
) -> RefrigerantResult:
    """Scope 1 of refrigerant leaks by mass balance, per asset, over one year.

    `charge_kg` [assets] nameplate charge; `top_up_kg` [assets] refrigerant added for
    servicing in the year; `retired_charge_kg` / `recovered_kg` [assets] charge of equipment
    retired in the year and the refrigerant recovered from it. A leak flag is raised when
    top-ups reach `threshold` (0.10: 10 %) of the charge or more.
    """
    n = len(refrigerants)
    charge = _per_asset("charge_kg", charge_kg, n)
    top = _per_asset("top_up_kg", top_up_kg, n)
    retired = _per_asset("retired_charge_kg", retired_charge_kg, n)
    recovered = _per_asset("recovered_kg", recovered_kg, n)
    emitted = np.clip(top, 0.0, None) + np.clip(retired - recovered, 0.0, None)
    g = [refrigerant_gwp(r, gwp) for r in refrigerants]
    kyoto = np.array([x.kyoto for x in g])
    other = np.array([x.non_kyoto for x in g])
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(charge > 0, top / charge, np.nan)
    return RefrigerantResult(
        emitted, emitted * kyoto, emitted * other, rate, np.nan_to_num(rate) >= threshold
    )


def retrofit_avoided_kg(
    leak_kg_per_year: float, old: str, new: str, gwp: GwpSet, new_leak_kg_per_year: float
) -> float:
    """Avoided kgCO2e per year of a low-GWP refrigerant retrofit (reported apart, never
    netted): the old refrigerant's leaks at its GWP minus the new one's at its own."""
    return (
        leak_kg_per_year * refrigerant_gwp(old, gwp).total
        - new_leak_kg_per_year * refrigerant_gwp(new, gwp).total
    )


def _per_asset(name: str, values: Any, n: int) -> F64:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        return np.full(n, float(arr))
    if arr.shape != (n,):
        raise ShapeError(f"{name} must be a scalar or [{n}], got shape {arr.shape}")
    return arr
