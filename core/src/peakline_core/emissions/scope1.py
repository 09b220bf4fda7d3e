"""Scope 1: on-site natural gas combustion, from metered volume (m3) or energy (kWh).

E = activity (TJ, net calorific value) x factor per gas (kg/TJ), summed as CO2e with a named
GWP set: IPCC 2006 Guidelines, Volume 2 (Energy), Chapter 2, Equation 2.1 (Tier 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from peakline_core.emissions._arrays import F64, as_2d
from peakline_core.emissions.book import FuelFactors
from peakline_core.emissions.errors import EmissionsError
from peakline_core.emissions.gwp import GWP100


@dataclass(frozen=True, slots=True)
class Scope1Result:
    """Per-interval Scope 1 masses, kg, all [sites, time]."""

    co2: F64
    ch4: F64
    n2o: F64
    co2e: F64
    energy_kwh: F64
    """Fuel energy (net calorific value) burned, kWh."""


def gas_energy_kwh(volume_m3: Any, kwh_per_m3: float) -> F64:
    """Fuel energy (kWh, net calorific value) from volume (m3 at the heating value's reference
    conditions) and the net calorific value (kWh/m3)."""
    out: F64 = as_2d("volume_m3", volume_m3) * kwh_per_m3
    return out


def scope1_gas(
    fuel: FuelFactors,
    *,
    volume_m3: Any = None,
    energy_kwh: Any = None,
    kwh_per_m3: float | None = None,
) -> Scope1Result:
    """Scope 1 emissions of gas burned on site, per interval, [sites, time].

    Give either `energy_kwh` (kWh of net calorific value, e.g. from a gas meter that reports
    energy) or `volume_m3` with the net calorific value `kwh_per_m3` (default: the fuel's
    heating value from the factor book). Returns kg of CO2, CH4, N2O and kgCO2e.
    """
    if (volume_m3 is None) == (energy_kwh is None):
        raise EmissionsError("give exactly one of volume_m3 and energy_kwh")
    if energy_kwh is not None:
        e = as_2d("energy_kwh", energy_kwh)
    else:
        ncv = kwh_per_m3 if kwh_per_m3 is not None else fuel.kwh_per_m3
        if ncv is None:
            raise EmissionsError(f"no heating value for {fuel.fuel}: give kwh_per_m3")
        e = gas_energy_kwh(volume_m3, ncv)
    e = np.clip(e, 0.0, None)
    g = GWP100[fuel.gwp]
    co2 = e * fuel.co2_kg_per_kwh
    ch4 = e * fuel.ch4_kg_per_kwh
    n2o = e * fuel.n2o_kg_per_kwh
    co2e = co2 * g["CO2"] + ch4 * g["CH4"] + n2o * g["N2O"]
    return Scope1Result(co2, ch4, n2o, co2e, e)
