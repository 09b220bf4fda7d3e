"""Emission factor sets: every number with its provenance (publisher, document, year, unit).

One YAML file in config/emission-factors/ is one `EmissionFactorSet`. The config loader
validates each with `EmissionFactorSet.model_validate`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from peakline_core.emissions.errors import UnitError
from peakline_core.emissions.units import gas_of
from peakline_core.wire.ids import ID_PATTERN

Gas = Literal["CO2", "CH4", "N2O", "CO2e"]
Basis = Literal["direct", "lifecycle"]
FactorKind = Literal["location", "residual_mix", "marginal", "fuel"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Provenance(Strict):
    """Where a number comes from."""

    publisher: str = Field(min_length=1)
    document: str = Field(min_length=1)
    year: int = Field(ge=1990, le=2100, description="year of the data (not of publication)")
    published: int | None = Field(default=None, ge=1990, le=2100)
    url: str | None = None
    notes: str = ""
    verified: bool = Field(
        default=True, description="false when the figure could not be checked against the source"
    )


class Factor(Strict):
    """One factor: the mass of a gas per unit of activity (energy or fuel)."""

    region: str = Field(min_length=1, description="grid region id or fuel name")
    value: float = Field(ge=0)
    unit: str = Field(min_length=1, description="e.g. kgCO2e/kWh, kgCO2/MWh, kgCH4/TJ")
    gas: Gas
    basis: Basis = "direct"
    kind: FactorKind
    year: int | None = Field(default=None, ge=1990, le=2100)
    provenance: Provenance | None = Field(default=None, description="default: the set's")

    @model_validator(mode="after")
    def _unit_names_gas(self) -> Self:
        try:
            unit_gas = gas_of(self.unit)
        except UnitError as exc:
            raise ValueError(str(exc)) from None
        if unit_gas != self.gas:
            raise ValueError(f"unit {self.unit!r} is for {unit_gas}, but gas is {self.gas}")
        return self


class HeatingValue(Strict):
    """Net calorific value of a fuel, to turn metered volume into energy."""

    fuel: str = Field(min_length=1, description="fuel name, e.g. natural_gas")
    value: float = Field(gt=0)
    unit: Literal["MJ/m3", "GJ/10^4Nm3", "kWh/m3"]
    provenance: Provenance | None = Field(default=None, description="default: the set's")

    def kwh_per_m3(self) -> float:
        """kWh of net energy per m3 of fuel."""
        per_m3 = {"MJ/m3": 1.0 / 3.6, "GJ/10^4Nm3": 1e3 / 3.6 / 1e4, "kWh/m3": 1.0}
        return self.value * per_m3[self.unit]


class EmissionFactorSet(Strict):
    """A published set of factors (one publication, or one consistent collection)."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: str
    provenance: Provenance
    gwp: Literal["AR4", "AR5", "AR6"] | None = Field(
        default=None, description="GWP set used for any CO2e figures in this set"
    )
    factors: list[Factor] = Field(min_length=1)
    heating_values: list[HeatingValue] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        keys = [(f.region, f.gas, f.kind, f.basis, f.year) for f in self.factors]
        if len(keys) != len(set(keys)):
            raise ValueError("two factors share region, gas, kind, basis and year")
        return self
