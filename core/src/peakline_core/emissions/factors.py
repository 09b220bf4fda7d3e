"""Emission factor sets: every number with its provenance (publisher, document, year, unit).

One YAML file in config/emission-factors/ is one `EmissionFactorSet`. The config loader
validates each with `EmissionFactorSet.model_validate`.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from peakline_core.emissions.errors import UnitError
from peakline_core.emissions.units import gas_of
from peakline_core.wire.ids import ID_PATTERN

Gas = Literal["CO2", "CH4", "N2O", "CO2e"]
Basis = Literal["direct", "lifecycle"]
FactorKind = Literal["location", "residual_mix", "marginal", "fuel", "heat", "steam", "cooling"]
"""`heat`, `steam`, `cooling`: purchased thermal energy (Scope 2), per kWh or GJ delivered."""
FuelMethod = Literal["china", "ipcc2006"]
"""How stationary combustion is computed: China's GHG accounting guidelines (NCV x carbon
content per unit heat x oxidation rate x 44/12, CO2 only) or IPCC 2006 Tier 1 (CO2, CH4, N2O
per TJ, oxidation 1)."""
NcvUnit = Literal["GJ/t", "TJ/Gg", "GJ/10^4Nm3", "MJ/m3", "kWh/m3"]
FuelFigure = Literal["ncv", "carbon", "oxidation", "co2", "ch4", "n2o"]

_GJ_PER_UNIT: Final[dict[str, tuple[str, float]]] = {
    "GJ/t": ("t", 1.0),
    "TJ/Gg": ("t", 1.0),  # 1 TJ/Gg = 1 GJ/t
    "GJ/10^4Nm3": ("m3", 1e-4),
    "MJ/m3": ("m3", 1e-3),
    "kWh/m3": ("m3", 3.6e-3),
}


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


class FuelProperties(Strict):
    """Default properties of one stationary fuel under one method, each figure sourced.

    CO2 is either `carbon_t_per_tj` (China's 单位热值含碳量, tC/TJ = kgC/GJ) times `oxidation`
    (碳氧化率) times 44/12, or `co2_kg_per_tj` directly (IPCC 2006 Vol. 2 Ch. 1 Table 1.4,
    oxidation 1). `ncv` (net calorific value, 低位发热量) turns metered mass or volume into
    energy. `biogenic`: the CO2 is reported apart from Scope 1 (CH4 and N2O still count).
    """

    fuel: str = Field(min_length=1, description="fuel id, e.g. natural_gas, raw_coal, diesel")
    name: str = ""
    ncv: float | None = Field(default=None, gt=0, description="net calorific value")
    ncv_unit: NcvUnit | None = None
    carbon_t_per_tj: float | None = Field(
        default=None, gt=0, description="carbon content per unit heat, tC/TJ (= kgC/GJ)"
    )
    oxidation: float = Field(default=1.0, gt=0, le=1, description="carbon oxidation rate, 0-1")
    co2_kg_per_tj: float | None = Field(default=None, ge=0, description="kgCO2/TJ (NCV basis)")
    ch4_kg_per_tj: float = Field(default=0.0, ge=0, description="kgCH4/TJ; 0: not counted")
    n2o_kg_per_tj: float = Field(default=0.0, ge=0, description="kgN2O/TJ; 0: not counted")
    biogenic: bool = Field(default=False, description="CO2 reported apart (biomass)")
    provenance: Provenance | None = Field(default=None, description="default: the set's")
    sources: dict[FuelFigure, Provenance] = Field(
        default_factory=dict, description="per-figure provenance where it differs"
    )

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if (self.carbon_t_per_tj is None) == (self.co2_kg_per_tj is None):
            raise ValueError("give exactly one of carbon_t_per_tj and co2_kg_per_tj")
        if (self.ncv is None) != (self.ncv_unit is None):
            raise ValueError("ncv and ncv_unit go together")
        return self

    def co2_kg_per_gj(self) -> float:
        """kg of CO2 per GJ of fuel energy (NCV): C x OF x 44/12, or the IPCC factor / 1000."""
        if self.carbon_t_per_tj is not None:
            return self.carbon_t_per_tj * self.oxidation * 44.0 / 12.0
        assert self.co2_kg_per_tj is not None  # the validator guarantees one of the two
        return self.co2_kg_per_tj * self.oxidation / 1000.0

    def gj_per(self) -> tuple[str, float] | None:
        """("t" or "m3", GJ per that unit) from the NCV, or None without one."""
        if self.ncv is None or self.ncv_unit is None:
            return None
        basis, scale = _GJ_PER_UNIT[self.ncv_unit]
        return basis, self.ncv * scale


class EmissionFactorSet(Strict):
    """A published set of factors (one publication, or one consistent collection)."""

    id: Annotated[str, Field(pattern=ID_PATTERN)]
    name: str
    provenance: Provenance
    gwp: Literal["AR4", "AR5", "AR6"] | None = Field(
        default=None, description="GWP set used for any CO2e figures in this set"
    )
    factors: list[Factor] = Field(default_factory=list)
    heating_values: list[HeatingValue] = Field(default_factory=list)
    fuel_method: FuelMethod | None = Field(
        default=None, description="the method the `fuels` defaults belong to"
    )
    fuels: list[FuelProperties] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        if not self.factors and not self.fuels:
            raise ValueError("a factor set needs `factors` or `fuels`")
        if self.fuels and self.fuel_method is None:
            raise ValueError("`fuels` need a `fuel_method` (china or ipcc2006)")
        if len({f.fuel for f in self.fuels}) != len(self.fuels):
            raise ValueError("two fuels share an id")
        keys = [(f.region, f.gas, f.kind, f.basis, f.year) for f in self.factors]
        if len(keys) != len(set(keys)):
            raise ValueError("two factors share region, gas, kind, basis and year")
        return self
