"""Scope 2: purchased heat, steam and cooling (district heating networks), both methods.

Delivered thermal energy (heat meter, GJ or kWh) times the network's factor. Location-based:
the network's published factor, else the default of the factor book (China: 0.11 tCO2/GJ
for purchased heat, GB/T 32150-2015 and the sector guidelines; steam converted to heat takes
it too). Market-based: a supplier-specific (contractual) factor of the network where there
is one, else the location factor, marked (GHG Protocol Scope 2 Guidance, Table 6.3: without
a residual mix for heat, the location factor stands in). Cooling has no default factor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from peakline_core.emissions._arrays import F64, as_2d, per_site
from peakline_core.emissions.errors import UnitError
from peakline_core.emissions.scope2 import scope2_location

Carrier = Literal["heat", "steam", "cooling"]
HeatUnit = Literal["GJ", "MJ", "kWh", "MWh"]

KWH_PER: Final[dict[str, float]] = {"GJ": 1e3 / 3.6, "MJ": 1.0 / 3.6, "kWh": 1.0, "MWh": 1e3}
"""kWh per thermal energy unit."""

FEEDWATER_KJ_PER_KG: Final[float] = 83.74
"""Enthalpy of water at 20 degC (4.1868 kJ/kg/K x 20 K), subtracted from steam's enthalpy
when steam is metered by mass; the convention of China's guidelines as commonly applied --
not verified against a guideline's text here (see docs/emissions.md)."""


def thermal_kwh(values: Any, unit: str) -> F64:
    """Delivered thermal energy in kWh from a heat meter's `unit` (GJ, MJ, kWh, MWh)."""
    if unit not in KWH_PER:
        raise UnitError(f"unknown thermal energy unit {unit!r}")
    out: F64 = as_2d("thermal energy", values) * KWH_PER[unit]
    return out


def steam_heat_gj(
    mass_t: Any, enthalpy_kj_per_kg: Any, feedwater_kj_per_kg: float = FEEDWATER_KJ_PER_KG
) -> F64:
    """Heat in steam metered by mass, GJ: t x (enthalpy - feedwater enthalpy, kJ/kg) / 1000.

    `enthalpy_kj_per_kg`: the steam's specific enthalpy at its pressure and temperature
    (steam tables), a scalar or [meters]."""
    m = as_2d("mass_t", mass_t)
    dh = per_site("enthalpy_kj_per_kg", enthalpy_kj_per_kg, m.shape[0]) - feedwater_kj_per_kg
    out: F64 = m * dh * 1e-3  # 1 t x 1 kJ/kg = 1,000 kJ = 1e-3 GJ
    return out


@dataclass(frozen=True, slots=True)
class ThermalResult:
    """Scope 2 of purchased thermal energy per interval, kg, [meters, time]."""

    location_kg: F64
    market_kg: F64


def scope2_thermal(energy_kwh: Any, location: Any, market: Any = None) -> ThermalResult:
    """Location- and market-based Scope 2 of purchased heat, steam or cooling.

    `energy_kwh` [meters, time] delivered kWh (see `thermal_kwh`); `location` and `market`
    kg/kWh as a scalar, [meters] or [meters, time] (market None: the location factor)."""
    loc = scope2_location(energy_kwh, location)
    mkt = loc if market is None else scope2_location(energy_kwh, market)
    return ThermalResult(loc, mkt)
