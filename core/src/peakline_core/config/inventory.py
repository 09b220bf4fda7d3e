"""inventory.yaml: the assets a full GHG inventory needs beyond electricity meters.

Fuel meters (boilers, generators: Scope 1 stationary combustion), heat networks and heat
meters (purchased heat, steam, cooling: Scope 2), refrigerant assets with their service
records (Scope 1 fugitive, mass balance) and data centres (PUE, WUE). Optional: a programme
without the file reports electricity and gas only.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from peakline_core.emissions.combustion import ActivityUnit
from peakline_core.emissions.factors import Provenance
from peakline_core.emissions.refrigerants import REFRIGERANTS
from peakline_core.emissions.thermal import Carrier, HeatUnit
from peakline_core.wire.ids import ID_PATTERN, POINT_PATTERN

Id = Annotated[str, Field(pattern=ID_PATTERN)]
Point = Annotated[str, Field(pattern=POINT_PATTERN)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FuelMeter(Strict):
    """A meter of fuel burned on site (gas meter, coal weighbridge, oil tank gauge)."""

    id: Id
    site: Id
    fuel: str = Field(
        min_length=1, description="fuel id in the factor sets: natural_gas, raw_coal, diesel, ..."
    )
    unit: ActivityUnit = Field(description="unit of the metered quantity")
    device: Id | None = Field(default=None, description="device reading the meter, if any")
    point: Point | None = Field(default=None, description="the device's counter point")
    ncv_gj_per_unit: float | None = Field(
        default=None,
        gt=0,
        description="measured net calorific value, GJ per t (mass units) or per m3 (volume"
        " units); overrides the method's default",
    )
    use: str = Field(default="", description="what burns it: boiler, generator, kitchen, ...")


class HeatNetwork(Strict):
    """A district heating, steam or cooling network supplying sites (Scope 2)."""

    id: Id
    name: str = ""
    carrier: Carrier = "heat"
    region: str = Field(default="CN", description="region for the factor book's default")
    location_kg_per_gj: float | None = Field(
        default=None,
        ge=0,
        description="the network's published factor, kgCO2/GJ; default: the factor book's"
        " (China: 110 kgCO2/GJ for heat); required for cooling",
    )
    market_kg_per_gj: float | None = Field(
        default=None,
        ge=0,
        description="supplier-specific (contractual) factor, kgCO2/GJ; default: the location"
        " factor",
    )
    provenance: Provenance | None = Field(default=None, description="source of the factors")


class HeatMeter(Strict):
    """A heat (or steam, cooling) meter at a site's connection to a network."""

    id: Id
    site: Id
    network: Id
    unit: HeatUnit = "GJ"
    device: Id | None = None
    point: Point | None = None


class ServiceRecord(Strict):
    """One refrigerant event of an asset."""

    date: dt.date
    kind: Literal["top_up", "recovery"] = Field(
        description="top_up: refrigerant added (a leak replaced); recovery: recovered at retirement"
    )
    kg: float = Field(ge=0)
    note: str = ""


class RefrigerantAsset(Strict):
    """A chiller, split unit, VRF system, heat pump or cold room with its refrigerant."""

    id: Id
    site: Id
    kind: Literal["chiller", "split", "vrf", "heat_pump", "cold_room", "other"] = "chiller"
    refrigerant: str = Field(description="ASHRAE number, e.g. R-410A, R-32, R-134a, R-22")
    charge_kg: float = Field(gt=0, description="nameplate charge, kg")
    device: Id | None = Field(default=None, description="the asset's device, if monitored")
    installed: dt.date | None = None
    retired: dt.date | None = None
    replaces: Id | None = Field(
        default=None, description="the asset this one replaced (low-GWP retrofit)"
    )
    service: list[ServiceRecord] = Field(default_factory=list)

    @field_validator("refrigerant")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in REFRIGERANTS:
            raise ValueError(f"unknown refrigerant {value!r}; known: {', '.join(REFRIGERANTS)}")
        return value

    def year_totals(self, year: int) -> tuple[float, float]:
        """(kg topped up, kg recovered) in calendar `year`."""
        top = sum(r.kg for r in self.service if r.kind == "top_up" and r.date.year == year)
        rec = sum(r.kg for r in self.service if r.kind == "recovery" and r.date.year == year)
        return top, rec

    def retired_charge_kg(self, year: int) -> float:
        """The charge if the asset was retired in `year` (mass balance), else 0."""
        return self.charge_kg if self.retired is not None and self.retired.year == year else 0.0


class DataCentre(Strict):
    """A data centre (or server room) at a site: meters for PUE and WUE."""

    id: Id
    site: Id
    facility_meters: list[Id] = Field(min_length=1, description="devices: total facility energy")
    it_meters: list[Id] = Field(min_length=1, description="devices: IT equipment energy (UPS out)")
    water_meter: Id | None = Field(default=None, description="device: site water use, for WUE")


class InventoryFile(Strict):
    """inventory.yaml."""

    leak_threshold: float = Field(
        default=0.10,
        gt=0,
        le=1,
        description="share of the charge topped up in a year that flags an asset as leaking",
    )
    fuel_meters: list[FuelMeter] = Field(default_factory=list)
    heat_networks: list[HeatNetwork] = Field(default_factory=list)
    heat_meters: list[HeatMeter] = Field(default_factory=list)
    refrigerant_assets: list[RefrigerantAsset] = Field(default_factory=list)
    data_centres: list[DataCentre] = Field(default_factory=list)

    @model_validator(mode="after")
    def _cooling_has_factor(self) -> Self:
        for i, n in enumerate(self.heat_networks):
            if n.carrier == "cooling" and n.location_kg_per_gj is None:
                raise ValueError(
                    f"heat_networks[{i}] ({n.id}): cooling has no default factor:"
                    " give location_kg_per_gj"
                )
        return self
