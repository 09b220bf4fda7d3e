"""The annual GHG inventory of a site, district or city: Scope 1 by source, Scope 2 by carrier
and method, biogenic CO2 and non-Kyoto gases apart, intensities, data completeness, and the
methods and factor sets used. Serialisable to JSON (`as_dict`) and CSV rows (`csv_rows`).

Lines are annual sums (kg); `combine` adds site inventories into a district or city (lines
with the same key add up, floor areas add, intensities are ratios of sums). Scope 3 and
industrial process emissions are not covered (docs/emissions.md, "What is not covered").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

import numpy as np

from peakline_core.emissions.errors import EmissionsError, ShapeError
from peakline_core.emissions.factors import FuelMethod
from peakline_core.emissions.gwp import GwpSet
from peakline_core.emissions.report import Level

Scope2Carrier = Literal["electricity", "heat", "steam", "cooling"]
Scope1Category = Literal["stationary_combustion", "fugitive_refrigerant"]
QUALITY: Final[tuple[str, ...]] = ("measured", "estimated", "imported", "missing")
"""Quality codes of an hour of meter data, in the order of their integer codes 0-3."""


@dataclass(frozen=True, slots=True)
class Scope1Line:
    """One Scope 1 source over the year: a fuel, or the refrigerants."""

    source: str
    """Fuel id (natural_gas, raw_coal, ...) or "refrigerants"."""
    category: Scope1Category
    co2e_kg: float
    """In Scope 1: fossil CO2 + CH4 + N2O (+ HFCs) as CO2e."""
    co2_kg: float = 0.0
    ch4_kg: float = 0.0
    n2o_kg: float = 0.0
    biogenic_co2_kg: float = 0.0
    """Reported apart, not in `co2e_kg`."""
    non_kyoto_co2e_kg: float = 0.0
    """HCFC refrigerants, reported apart, not in `co2e_kg`."""
    activity: float = 0.0
    activity_unit: str = "GJ"
    method: str = ""
    """china, ipcc2006, mass_balance."""
    gases: str = ""
    """What the method counts, e.g. "CO2" or "CO2, CH4, N2O"."""
    factor_set: str = ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.category, self.source, self.method, self.activity_unit)

    def __add__(self, b: Scope1Line) -> Scope1Line:
        """Two lines of the same key summed (sites into a district, meters of one fuel)."""
        return replace(
            self,
            co2e_kg=self.co2e_kg + b.co2e_kg,
            co2_kg=self.co2_kg + b.co2_kg,
            ch4_kg=self.ch4_kg + b.ch4_kg,
            n2o_kg=self.n2o_kg + b.n2o_kg,
            biogenic_co2_kg=self.biogenic_co2_kg + b.biogenic_co2_kg,
            non_kyoto_co2e_kg=self.non_kyoto_co2e_kg + b.non_kyoto_co2e_kg,
            activity=self.activity + b.activity,
            factor_set=self.factor_set if self.factor_set == b.factor_set else "mixed",
        )


@dataclass(frozen=True, slots=True)
class Scope2Line:
    """One purchased energy carrier over the year, both methods."""

    carrier: Scope2Carrier
    energy_kwh: float
    location_kg: float
    market_kg: float
    factor_set: str = ""
    gases: str = ""
    """CO2 for China's factors (MEE grid, 0.11 tCO2/GJ heat), CO2e otherwise."""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.carrier, self.factor_set, self.gases)

    def __add__(self, b: Scope2Line) -> Scope2Line:
        return replace(
            self,
            energy_kwh=self.energy_kwh + b.energy_kwh,
            location_kg=self.location_kg + b.location_kg,
            market_kg=self.market_kg + b.market_kg,
        )


@dataclass(frozen=True, slots=True)
class MeterCompleteness:
    """Hours of one meter in the year by data quality."""

    meter_id: str
    measured: int = 0
    estimated: int = 0
    imported: int = 0
    missing: int = 0

    @property
    def hours(self) -> int:
        return self.measured + self.estimated + self.imported + self.missing

    def shares(self) -> dict[str, float | None]:
        """Share of hours per quality (None for a meter without hours)."""
        h = self.hours
        return {q: (getattr(self, q) / h if h else None) for q in QUALITY}


def completeness(meter_ids: Sequence[str], quality: Any) -> tuple[MeterCompleteness, ...]:
    """Per-meter counts from quality codes [meters, hours] (0 measured, 1 estimated,
    2 imported, 3 or any other value missing)."""
    q = np.asarray(quality)
    if q.ndim != 2 or q.shape[0] != len(meter_ids):
        raise ShapeError(f"quality must be [{len(meter_ids)}, hours], got {q.shape}")
    counts = [(q == code).sum(axis=1) for code in range(3)]
    missing = q.shape[1] - sum(counts)
    return tuple(
        MeterCompleteness(m, int(counts[0][i]), int(counts[1][i]), int(counts[2][i]), int(x))
        for i, (m, x) in enumerate(zip(meter_ids, missing, strict=True))
    )


@dataclass(frozen=True, slots=True)
class InventoryMethods:
    """How the inventory was computed (one GWP set and one fuel method per inventory)."""

    gwp: GwpSet
    fuel_method: FuelMethod
    refrigerant_method: str = "mass_balance"
    factor_sets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Inventory:
    """The GHG inventory of one entity for one year, kg."""

    level: Level
    entity_id: str
    year: int
    methods: InventoryMethods
    scope1: tuple[Scope1Line, ...] = ()
    scope2: tuple[Scope2Line, ...] = ()
    meters: tuple[MeterCompleteness, ...] = ()
    floor_area_m2: float = 0.0
    population: int | None = None
    avoided_kg: dict[str, float] = field(default_factory=dict)
    """Avoided emissions by cause (e.g. "refrigerant_retrofit"), never netted."""

    @property
    def scope1_kg(self) -> float:
        return sum(line.co2e_kg for line in self.scope1)

    def scope1_by_source(self) -> dict[str, float]:
        """kgCO2e per Scope 1 source (fuel id or "refrigerants")."""
        out: dict[str, float] = {}
        for line in self.scope1:
            out[line.source] = out.get(line.source, 0.0) + line.co2e_kg
        return out

    def scope2_by_carrier(self) -> dict[str, dict[str, float]]:
        """{carrier: {"location": kg, "market": kg, "energy_kwh": kWh}}."""
        out: dict[str, dict[str, float]] = {}
        for line in self.scope2:
            d = out.setdefault(line.carrier, {"energy_kwh": 0.0, "location": 0.0, "market": 0.0})
            d["energy_kwh"] += line.energy_kwh
            d["location"] += line.location_kg
            d["market"] += line.market_kg
        return out

    @property
    def scope2_location_kg(self) -> float:
        return sum(line.location_kg for line in self.scope2)

    @property
    def scope2_market_kg(self) -> float:
        return sum(line.market_kg for line in self.scope2)

    @property
    def biogenic_co2_kg(self) -> float:
        return sum(line.biogenic_co2_kg for line in self.scope1)

    @property
    def non_kyoto_co2e_kg(self) -> float:
        return sum(line.non_kyoto_co2e_kg for line in self.scope1)

    def totals(self) -> dict[str, float]:
        """Scope 1 + Scope 2 by method, kg."""
        return {
            "location": self.scope1_kg + self.scope2_location_kg,
            "market": self.scope1_kg + self.scope2_market_kg,
        }

    def intensities(self) -> dict[str, dict[str, float | None]]:
        """kg per m2 of floor area and per resident, by method."""
        t = self.totals()
        area, pop = self.floor_area_m2, self.population
        return {
            "kg_per_m2": {k: (v / area if area else None) for k, v in t.items()},
            "kg_per_capita": {k: (v / pop if pop else None) for k, v in t.items()},
        }

    def completeness_shares(self) -> dict[str, float | None]:
        """Share of all meter-hours per quality (hour-weighted over meters)."""
        total = sum(m.hours for m in self.meters)
        return {
            q: (sum(getattr(m, q) for m in self.meters) / total if total else None) for q in QUALITY
        }

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict (the API's response body)."""
        return {
            "level": self.level,
            "id": self.entity_id,
            "year": self.year,
            "unit": "kg",
            "methods": {
                "gwp": self.methods.gwp,
                "fuel_method": self.methods.fuel_method,
                "refrigerants": self.methods.refrigerant_method,
                "factor_sets": list(self.methods.factor_sets),
            },
            "scope1": {
                "total_co2e": self.scope1_kg,
                "by_source": self.scope1_by_source(),
                "lines": [_asdict(line) for line in self.scope1],
            },
            "scope2": {
                "location": self.scope2_location_kg,
                "market": self.scope2_market_kg,
                "by_carrier": self.scope2_by_carrier(),
                "lines": [_asdict(line) for line in self.scope2],
            },
            "total": self.totals(),
            "reported_apart": {
                "biogenic_co2": self.biogenic_co2_kg,
                "non_kyoto_co2e": self.non_kyoto_co2e_kg,
                "avoided_co2e": dict(self.avoided_kg),
            },
            "intensity": self.intensities(),
            "floor_area_m2": self.floor_area_m2,
            "population": self.population,
            "completeness": {
                "overall": self.completeness_shares(),
                "meters": [
                    {"meter": m.meter_id, "hours": m.hours, **m.shares()} for m in self.meters
                ],
            },
            "not_covered": ["scope3", "process_emissions"],
        }

    def csv_rows(self) -> list[dict[str, object]]:
        """One row per line (and per total), columns `CSV_FIELDS`."""
        base = {"level": self.level, "id": self.entity_id, "year": self.year}
        rows: list[dict[str, object]] = []
        for s1 in self.scope1:
            rows.append(
                {
                    **base,
                    "scope": "1",
                    "category": s1.category,
                    "source": s1.source,
                    "method": s1.method,
                    "gases": s1.gases,
                    "activity": s1.activity,
                    "activity_unit": s1.activity_unit,
                    "co2e_kg": s1.co2e_kg,
                    "biogenic_co2_kg": s1.biogenic_co2_kg,
                    "non_kyoto_co2e_kg": s1.non_kyoto_co2e_kg,
                    "factor_set": s1.factor_set,
                }
            )
        for s2 in self.scope2:
            for method, kg in (("location", s2.location_kg), ("market", s2.market_kg)):
                rows.append(
                    {
                        **base,
                        "scope": "2",
                        "category": "purchased_energy",
                        "source": s2.carrier,
                        "method": method,
                        "gases": s2.gases,
                        "activity": s2.energy_kwh,
                        "activity_unit": "kWh",
                        "co2e_kg": kg,
                        "factor_set": s2.factor_set,
                    }
                )
        for method, kg in self.totals().items():
            total = {"scope": "1+2", "category": "total", "method": method, "co2e_kg": kg}
            rows.append({**base, **total})
        return [{k: row.get(k, "") for k in CSV_FIELDS} for row in rows]

    def to_csv(self) -> str:
        """`csv_rows` as CSV text with a header line."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.csv_rows())
        return buf.getvalue()


CSV_FIELDS: Final[list[str]] = [
    "level",
    "id",
    "year",
    "scope",
    "category",
    "source",
    "method",
    "gases",
    "activity",
    "activity_unit",
    "co2e_kg",
    "biogenic_co2_kg",
    "non_kyoto_co2e_kg",
    "factor_set",
]


def combine(
    level: Level, entity_id: str, parts: Sequence[Inventory], population: int | None = None
) -> Inventory:
    """Sum inventories (sites into a district, districts into a city) of the same year and
    methods: lines with the same key add up, meters are listed, floor areas add."""
    if not parts:
        raise EmissionsError("nothing to combine")
    first = parts[0]
    for p in parts[1:]:
        if p.year != first.year or (p.methods.gwp, p.methods.fuel_method) != (
            first.methods.gwp,
            first.methods.fuel_method,
        ):
            raise EmissionsError("inventories of different years or methods cannot be added")
    s1: dict[tuple[str, str, str, str], Scope1Line] = {}
    s2: dict[tuple[str, str, str], Scope2Line] = {}
    avoided: dict[str, float] = {}
    for p in parts:
        for a in p.scope1:
            s1[a.key] = s1[a.key] + a if a.key in s1 else a
        for b in p.scope2:
            s2[b.key] = s2[b.key] + b if b.key in s2 else b
        for k, v in p.avoided_kg.items():
            avoided[k] = avoided.get(k, 0.0) + v
    sets = sorted({s for p in parts for s in p.methods.factor_sets})
    return Inventory(
        level=level,
        entity_id=entity_id,
        year=first.year,
        methods=replace(first.methods, factor_sets=tuple(sets)),
        scope1=tuple(s1.values()),
        scope2=tuple(s2.values()),
        meters=tuple(m for p in parts for m in p.meters),
        floor_area_m2=sum(p.floor_area_m2 for p in parts),
        population=population,
        avoided_kg=avoided,
    )


def _asdict(line: Scope1Line | Scope2Line) -> dict[str, object]:
    return {f: getattr(line, f) for f in line.__dataclass_fields__}
