"""100-year global warming potentials, named by IPCC assessment report.

AR4: IPCC Fourth Assessment Report (2007), WG1 Table 2.14; the set of EPA eGRID's own CO2e
     rates up to eGRID2022.
AR5: IPCC Fifth Assessment Report (2013), WG1 Table 8.7 (without climate-carbon feedback);
     UNFCCC inventories, and eGRID from eGRID2023; peakline's default (`Programme.gwp`).
AR6: IPCC Sixth Assessment Report (2021), WG1 Table 7.15; methane from fossil sources
     (natural gas combustion is fossil).
"""

from __future__ import annotations

from typing import Final, Literal

GwpSet = Literal["AR4", "AR5", "AR6"]

GWP100: Final[dict[str, dict[str, float]]] = {
    "AR4": {"CO2": 1.0, "CH4": 25.0, "N2O": 298.0},
    "AR5": {"CO2": 1.0, "CH4": 28.0, "N2O": 265.0},
    "AR6": {"CO2": 1.0, "CH4": 29.8, "N2O": 273.0},
}


def co2e(co2: float, ch4: float, n2o: float, gwp: GwpSet) -> float:
    """CO2-equivalent mass from masses of CO2, CH4 and N2O (any one mass unit)."""
    g = GWP100[gwp]
    return co2 * g["CO2"] + ch4 * g["CH4"] + n2o * g["N2O"]
