"""Scope 1: stationary combustion of every fuel, metered by mass, volume or energy.

Two methods, chosen per programme (`Programme.fuel_method`), with defaults from
config/emission-factors/ (`FactorBook.combustion`):

- ``china``: China's GHG accounting guidelines for enterprises and public buildings (GB/T
  32150-2015 and the sector guidelines): E_CO2 = AD x NCV x CC x OF x 44/12, with AD the fuel
  burned (t or 10^4 Nm3), NCV its net calorific value (GJ/t, GJ/10^4 Nm3), CC the carbon
  content per unit heat (tC/GJ) and OF the carbon oxidation rate. CO2 only: the guidelines
  do not count CH4 and N2O of combustion.
- ``ipcc2006``: 2006 IPCC Guidelines Vol. 2 Ch. 2 Eq. 2.1 (Tier 1): energy (TJ, NCV) x
  default factor per gas (Ch. 1 Table 1.4 for CO2, Ch. 2 Tables 2.2-2.5 for CH4 and N2O),
  CO2e with the programme's GWP set.

Biogenic CO2 (biomass) is returned apart and never added to Scope 1; its CH4 and N2O are.
Vectorized over [meters, time]: one row per fuel meter, each with its own fuel and unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

from peakline_core.emissions._arrays import F64, as_2d
from peakline_core.emissions.book import CombustionFactors
from peakline_core.emissions.errors import UnitError
from peakline_core.emissions.gwp import GWP100, GwpSet

ActivityUnit = Literal["t", "kg", "m3", "Nm3", "10^4Nm3", "GJ", "MJ", "TJ", "kWh", "MWh"]

_MASS_T: Final[dict[str, float]] = {"t": 1.0, "kg": 1e-3}
_VOLUME_M3: Final[dict[str, float]] = {"m3": 1.0, "Nm3": 1.0, "10^4Nm3": 1e4}
_ENERGY_GJ: Final[dict[str, float]] = {
    "GJ": 1.0,
    "MJ": 1e-3,
    "TJ": 1e3,
    "kWh": 3.6e-3,
    "MWh": 3.6,
}


def gj_per_unit(
    factors: CombustionFactors, unit: str, ncv_gj_per_unit: float | None = None
) -> float:
    """GJ of fuel energy (NCV) in one `unit` of metered fuel.

    `ncv_gj_per_unit` (GJ per t for mass units, per m3 for volume units) overrides the
    default NCV, e.g. a supplier's or a laboratory's measured value."""
    if unit in _ENERGY_GJ:
        return _ENERGY_GJ[unit]
    if unit in _MASS_T:
        ncv = ncv_gj_per_unit if ncv_gj_per_unit is not None else factors.gj_per_t
        scale = _MASS_T[unit]
    elif unit in _VOLUME_M3:
        ncv = ncv_gj_per_unit if ncv_gj_per_unit is not None else factors.gj_per_m3
        scale = _VOLUME_M3[unit]
    else:
        raise UnitError(f"unknown fuel activity unit {unit!r}")
    if ncv is None:
        raise UnitError(f"no net calorific value for {factors.fuel} per {unit}: give the NCV")
    return ncv * scale


@dataclass(frozen=True, slots=True)
class FuelBlock:
    """Per-meter factors as [meters] arrays, from each meter's fuel, unit and NCV."""

    gj_per_unit: F64
    co2_kg_per_gj: F64
    ch4_kg_per_gj: F64
    n2o_kg_per_gj: F64
    biogenic: F64
    """1.0 for biogenic fuels, 0.0 for fossil."""
    gwp: GwpSet

    @classmethod
    def from_factors(
        cls,
        factors: Sequence[CombustionFactors],
        units: Sequence[str],
        ncv_gj_per_unit: Sequence[float | None] | None = None,
    ) -> FuelBlock:
        """One row per meter: its fuel's factors, its activity unit and optional own NCV."""
        ncvs = ncv_gj_per_unit or [None] * len(factors)
        gwps = {f.gwp for f in factors}
        if len(gwps) > 1:
            raise UnitError(f"fuel factors with different GWP sets: {sorted(gwps)}")
        return cls(
            np.array([gj_per_unit(f, u, n) for f, u, n in zip(factors, units, ncvs, strict=True)]),
            np.array([f.co2_kg_per_gj for f in factors]),
            np.array([f.ch4_kg_per_gj for f in factors]),
            np.array([f.n2o_kg_per_gj for f in factors]),
            np.array([1.0 if f.biogenic else 0.0 for f in factors]),
            gwps.pop() if gwps else "AR5",
        )


@dataclass(frozen=True, slots=True)
class CombustionResult:
    """Per-interval masses, kg, [meters, time]."""

    energy_gj: F64
    co2_fossil: F64
    co2_biogenic: F64
    """Reported apart, never in `co2e`."""
    ch4: F64
    n2o: F64
    co2e: F64
    """Scope 1: fossil CO2 + CH4 and N2O (all fuels) as CO2e."""


def scope1_combustion(activity: Any, block: FuelBlock) -> CombustionResult:
    """Scope 1 of stationary combustion per interval, [meters, time].

    `activity`: fuel burned per interval in each meter's unit (t, m3, GJ, ...) [meters,
    time]; negative readings count zero, NaN stays NaN (missing). Returns kg of CO2 (fossil
    and biogenic apart), CH4, N2O and kgCO2e with the block's GWP set.
    """
    a = as_2d("activity", activity)
    e = np.clip(a, 0.0, None) * block.gj_per_unit[:, np.newaxis]  # NaN stays NaN
    co2 = e * block.co2_kg_per_gj[:, np.newaxis]
    bio = block.biogenic[:, np.newaxis]
    co2_bio = co2 * bio
    co2_fossil = co2 * (1.0 - bio)
    ch4 = e * block.ch4_kg_per_gj[:, np.newaxis]
    n2o = e * block.n2o_kg_per_gj[:, np.newaxis]
    g = GWP100[block.gwp]
    co2e = co2_fossil + ch4 * g["CH4"] + n2o * g["N2O"]
    return CombustionResult(e, co2_fossil, co2_bio, ch4, n2o, co2e)
