"""Units of imported values, and their conversion to the stored unit.

Energy is stored in kWh (electricity flows and heat); a fuel flow is stored in its meter's
own unit (m3 for gas). A file in GJ imported to a kWh flow converts; GJ to m3 does not (that
needs a calorific value, which is the factor book's job, not the importer's).
"""

from __future__ import annotations

import re

from peakline_core.importing.errors import ImportSpecError

ENERGY_KWH = {
    "wh": 1e-3,
    "kwh": 1.0,
    "mwh": 1e3,
    "gwh": 1e6,
    "mj": 1 / 3.6,
    "gj": 1e3 / 3.6,
    "therm": 29.3071,
}
VOLUME_M3 = {"m3": 1.0, "l": 1e-3, "ft3": 0.0283168, "ccf": 2.83168, "mcf": 28.3168}
_ALIASES = {
    "m³": "m3",
    "cubic metres": "m3",
    "litres": "l",
    "liters": "l",
    "cf": "ft3",
    "thm": "therm",
    "therms": "therm",
}
_IN_HEADER = re.compile(r"[\[(]\s*([^\])]+?)\s*[\])]|\b(k?wh|mwh|gwh|gj|mj|m3|m³|therms?)\b", re.I)


def normalise(unit: str) -> str:
    u = unit.strip().lower()
    return _ALIASES.get(u, u)


def factor(source: str, target: str) -> float:
    """The factor taking a value in `source` to `target` (both names of this module)."""
    s, t = normalise(source), normalise(target)
    for table in (ENERGY_KWH, VOLUME_M3):
        if s in table and t in table:
            return table[s] / table[t]
    known = sorted(ENERGY_KWH) + sorted(VOLUME_M3)
    if s not in ENERGY_KWH and s not in VOLUME_M3:
        raise ImportSpecError(f"unknown unit {source!r}: expected one of {', '.join(known)}")
    if t not in ENERGY_KWH and t not in VOLUME_M3:
        raise ImportSpecError(f"unknown stored unit {target!r}")
    raise ImportSpecError(f"cannot convert {source} to {target}: energy and volume do not mix")


def unit_in_header(header: str) -> str | None:
    """The unit a column header names ("Usage (kWh)", "Energy [MWh]", "kWh"), if any known."""
    for m in _IN_HEADER.finditer(header):
        u = normalise(m.group(1) or m.group(2))
        if u in ENERGY_KWH or u in VOLUME_M3:
            return u
    return None
