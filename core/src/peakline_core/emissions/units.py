"""Parse factor units such as ``kgCO2e/kWh``, ``lbCO2/MWh`` or ``kgCH4/TJ`` into SI scale.

A unit is ``<mass prefix><gas>/<activity unit>``. `to_kg_per(unit, activity)` returns the
multiplier that turns a value in `unit` into kg of gas per one `activity` unit (kWh, TJ, m3).
"""

from __future__ import annotations

import re
from typing import Final

from peakline_core.emissions.errors import UnitError

MASS_KG: Final[dict[str, float]] = {
    "g": 1e-3,
    "kg": 1.0,
    "t": 1e3,
    "tonne": 1e3,
    "lb": 0.45359237,  # international avoirdupois pound, exact by definition
}
"""kg per mass unit."""

ENERGY_KWH: Final[dict[str, float]] = {
    "Wh": 1e-3,
    "kWh": 1.0,
    "MWh": 1e3,
    "GWh": 1e6,
    "MJ": 1.0 / 3.6,
    "GJ": 1e3 / 3.6,
    "TJ": 1e6 / 3.6,
    "mmBtu": 293.07107017222,  # 1 MMBtu = 1.05505585262 GJ (International Table Btu)
}
"""kWh per energy unit."""

VOLUME_M3: Final[dict[str, float]] = {"m3": 1.0, "Nm3": 1.0, "10^4Nm3": 1e4}
"""m3 per volume unit (normal m3 taken as m3: volumes must be corrected by the meter)."""

_UNIT = re.compile(r"^(g|kg|t|tonne|lb)(CO2e|CO2|CH4|N2O)/([A-Za-z0-9^]+)$")


def parse(unit: str) -> tuple[float, str, str]:
    """Split `unit` into (kg per mass unit, gas, activity unit), e.g. ('lbCO2/MWh')."""
    m = _UNIT.fullmatch(unit.replace(" ", ""))
    if m is None:
        raise UnitError(f"cannot parse emission factor unit {unit!r}")
    return MASS_KG[m.group(1)], m.group(2), m.group(3)


def activity_scale(activity: str, target: str) -> float:
    """Number of `activity` units in one `target` unit (both energy, or both volume)."""
    for table in (ENERGY_KWH, VOLUME_M3):
        if activity in table and target in table:
            return table[target] / table[activity]
    raise UnitError(f"cannot convert per-{activity} to per-{target}")


def to_kg_per(unit: str, target: str) -> float:
    """Multiplier from a value in `unit` to kg of gas per `target` activity unit.

    >>> round(to_kg_per("lbCO2/MWh", "kWh"), 9)
    0.000453592
    """
    kg, _gas, activity = parse(unit)
    return kg * activity_scale(activity, target)


def gas_of(unit: str) -> str:
    """The gas named in `unit` (CO2, CO2e, CH4 or N2O)."""
    return parse(unit)[1]
