"""Report objects per site, district or city and period, location and market side by side.

`EmissionsTotals` holds extensive sums (kWh, kgCO2e, m2, people) that add across sites and
periods; every intensity is computed from the sums, so a district's kgCO2e/m2 is its total
emissions over its total floor area (area-weighted), never a mean of site ratios.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from peakline_core.emissions.flows import self_consumption_ratio, self_sufficiency_ratio

Level = Literal["site", "district", "city"]


@dataclass(frozen=True, slots=True)
class EmissionsTotals:
    """Sums over a period, kWh and kgCO2e. Add two with `+` (sites or periods)."""

    import_kwh: float = 0.0
    export_kwh: float = 0.0
    pv_kwh: float = 0.0
    pv_self_kwh: float = 0.0
    consumption_kwh: float = 0.0
    gas_kwh: float = 0.0
    scope1_kg: float = 0.0
    scope2_location_kg: float = 0.0
    scope2_market_kg: float = 0.0
    avoided_kg: float = 0.0
    intervals: int = 0
    intervals_with_data: int = 0

    def __add__(self, other: EmissionsTotals) -> EmissionsTotals:
        return EmissionsTotals(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(EmissionsTotals))
        )


@dataclass(frozen=True, slots=True)
class EmissionsReport:
    """One entity (site, district, city) over one period, with its intensities."""

    level: Level
    entity_id: str
    period: str
    """Period label, e.g. "2024", "2024-03", "2024-03-31" (local time of the entity)."""
    totals: EmissionsTotals
    floor_area_m2: float
    occupants: int
    population: int | None = None

    @property
    def location_kg(self) -> float:
        """Scope 1 + Scope 2 location-based, kgCO2e."""
        return self.totals.scope1_kg + self.totals.scope2_location_kg

    @property
    def market_kg(self) -> float:
        """Scope 1 + Scope 2 market-based, kgCO2e."""
        return self.totals.scope1_kg + self.totals.scope2_market_kg

    def _per(self, value: float, by: float | None) -> float | None:
        return value / by if by else None

    @property
    def kg_per_kwh(self) -> dict[str, float | None]:
        """Scope 2 per kWh imported, kgCO2e/kWh, by method."""
        t = self.totals
        return {
            "location": self._per(t.scope2_location_kg, t.import_kwh),
            "market": self._per(t.scope2_market_kg, t.import_kwh),
        }

    @property
    def kg_per_m2(self) -> dict[str, float | None]:
        """Scope 1 + 2 per m2 of floor area over the period, kgCO2e/m2, by method."""
        return {
            "location": self._per(self.location_kg, self.floor_area_m2),
            "market": self._per(self.market_kg, self.floor_area_m2),
        }

    @property
    def eui_kwh_per_m2(self) -> float | None:
        """Energy use intensity: on-site consumption plus gas, kWh/m2 over the period."""
        return self._per(self.totals.consumption_kwh + self.totals.gas_kwh, self.floor_area_m2)

    @property
    def kg_per_occupant(self) -> dict[str, float | None]:
        """kgCO2e per occupant, by method."""
        return {
            "location": self._per(self.location_kg, self.occupants),
            "market": self._per(self.market_kg, self.occupants),
        }

    @property
    def kg_per_capita(self) -> dict[str, float | None]:
        """kgCO2e per resident (cities with a population), by method."""
        return {
            "location": self._per(self.location_kg, self.population),
            "market": self._per(self.market_kg, self.population),
        }

    @property
    def self_consumption(self) -> float | None:
        """Share of PV used on site."""
        return self_consumption_ratio(self.totals.pv_kwh, self.totals.pv_self_kwh)

    @property
    def self_sufficiency(self) -> float | None:
        """Share of consumption met by own PV."""
        return self_sufficiency_ratio(self.totals.consumption_kwh, self.totals.pv_self_kwh)

    @property
    def coverage(self) -> float | None:
        """Share of intervals with meter data (1.0: complete)."""
        t = self.totals
        return t.intervals_with_data / t.intervals if t.intervals else None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready dict (the API's response body)."""
        return {
            "level": self.level,
            "id": self.entity_id,
            "period": self.period,
            "energy_kwh": {
                "import": self.totals.import_kwh,
                "export": self.totals.export_kwh,
                "pv": self.totals.pv_kwh,
                "pv_self": self.totals.pv_self_kwh,
                "consumption": self.totals.consumption_kwh,
                "gas": self.totals.gas_kwh,
            },
            "emissions_kgco2e": {
                "scope1": self.totals.scope1_kg,
                "scope2_location": self.totals.scope2_location_kg,
                "scope2_market": self.totals.scope2_market_kg,
                "location": self.location_kg,
                "market": self.market_kg,
                "avoided": self.totals.avoided_kg,
            },
            "intensity": {
                "kgco2e_per_kwh": self.kg_per_kwh,
                "kgco2e_per_m2": self.kg_per_m2,
                "eui_kwh_per_m2": self.eui_kwh_per_m2,
                "kgco2e_per_occupant": self.kg_per_occupant,
                "kgco2e_per_capita": self.kg_per_capita,
                "self_consumption": self.self_consumption,
                "self_sufficiency": self.self_sufficiency,
            },
            "coverage": self.coverage,
        }
