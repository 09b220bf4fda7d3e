"""`FactorBook`: answers "which factor, in kg per kWh, for this region and year?".

Built from several `EmissionFactorSet`s. Regions are hierarchical by dash: a site in
``US-NEWE`` falls back to ``US`` when no subregion factor exists, ``CN-EAST`` to ``CN``.
Years: the latest factor year not after the year asked for (the GHG Protocol's "most recent
available"), else the earliest there is. A CO2e figure is used when published; otherwise CO2,
CH4 and N2O rates are combined with the book's GWP set; a CO2-only publication (such as
China's MEE grid factors) is returned as CO2 and says so in `ResolvedFactor.gas`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from peakline_core.emissions.errors import FactorNotFound
from peakline_core.emissions.factors import (
    EmissionFactorSet,
    Factor,
    FactorKind,
    FuelMethod,
    FuelProperties,
    HeatingValue,
    Provenance,
)
from peakline_core.emissions.gwp import GWP100, GwpSet
from peakline_core.emissions.units import to_kg_per


@dataclass(frozen=True, slots=True)
class ResolvedFactor:
    """A factor ready to multiply kWh by: `value` in kg per kWh of `gas` (CO2e or CO2)."""

    region: str
    kind: FactorKind
    year: int
    value: float
    gas: str
    set_id: str
    provenance: tuple[Provenance, ...]
    fallback: str = ""
    """Non-empty when a stand-in was used, e.g. "location" for a missing residual mix."""


@dataclass(frozen=True, slots=True)
class FuelFactors:
    """Combustion factors for one fuel per kWh of net (lower) heating value energy."""

    fuel: str
    co2_kg_per_kwh: float
    ch4_kg_per_kwh: float
    n2o_kg_per_kwh: float
    kwh_per_m3: float | None
    gwp: GwpSet
    set_id: str

    @property
    def co2e_kg_per_kwh(self) -> float:
        """kgCO2e per kWh of fuel energy with this book's GWP set."""
        g = GWP100[self.gwp]
        return self.co2_kg_per_kwh + self.ch4_kg_per_kwh * g["CH4"] + self.n2o_kg_per_kwh * g["N2O"]


@dataclass(frozen=True, slots=True)
class CombustionFactors:
    """One stationary fuel under one method, per GJ of fuel energy (net calorific value).

    `gases` says what is counted: "CO2" under China's guidelines (which count CO2 only),
    "CO2, CH4, N2O" under IPCC 2006. `gj_per_t` / `gj_per_m3`: NCV for metered mass or volume
    (None: give energy, or the meter's own NCV). `fallback` is "ipcc2006" when the chosen
    method has no default for the fuel (biomass under China's guidelines) and IPCC's is used.
    """

    fuel: str
    method: FuelMethod
    co2_kg_per_gj: float
    ch4_kg_per_gj: float
    n2o_kg_per_gj: float
    biogenic: bool
    gj_per_t: float | None
    gj_per_m3: float | None
    gwp: GwpSet
    set_id: str
    provenance: tuple[Provenance, ...]
    fallback: str = ""
    ncv_from: tuple[tuple[str, str], ...] = ()
    """(basis "t" or "m3", id of the set whose NCV is used): another set than `set_id` when
    the chosen method has no NCV for that basis (IPCC gives natural gas per mass only)."""

    @property
    def gases(self) -> str:
        """The gases this method counts."""
        return "CO2" if self.ch4_kg_per_gj == 0 and self.n2o_kg_per_gj == 0 else "CO2, CH4, N2O"

    @property
    def co2e_kg_per_gj(self) -> float:
        """Fossil kgCO2e per GJ with the book's GWP set (biogenic CO2 left out)."""
        g = GWP100[self.gwp]
        co2 = 0.0 if self.biogenic else self.co2_kg_per_gj
        return co2 + self.ch4_kg_per_gj * g["CH4"] + self.n2o_kg_per_gj * g["N2O"]


@dataclass(frozen=True, slots=True)
class _Entry:
    factor: Factor
    year: int
    set_id: str
    provenance: Provenance


def parent_regions(region: str) -> list[str]:
    """``US-NEWE`` -> [``US-NEWE``, ``US``]: the region then its ancestors."""
    parts = region.split("-")
    return ["-".join(parts[:i]) for i in range(len(parts), 0, -1)]


class FactorBook:
    """Look up grid and fuel factors across several factor sets (pure, immutable)."""

    def __init__(
        self,
        sets: Iterable[EmissionFactorSet],
        gwp: GwpSet = "AR5",
        fuel_method: FuelMethod = "ipcc2006",
    ) -> None:
        self.gwp: GwpSet = gwp
        self.fuel_method: FuelMethod = fuel_method
        self._entries: dict[tuple[str, FactorKind], list[_Entry]] = {}
        self._heating: dict[str, HeatingValue] = {}
        self._fuels: dict[tuple[FuelMethod, str], tuple[FuelProperties, EmissionFactorSet]] = {}
        for s in sets:
            if s.fuel_method is not None:
                for fp in s.fuels:
                    self._fuels.setdefault((s.fuel_method, fp.fuel), (fp, s))
            for f in s.factors:
                year = f.year if f.year is not None else s.provenance.year
                entry = _Entry(f, year, s.id, f.provenance or s.provenance)
                self._entries.setdefault((f.region, f.kind), []).append(entry)
            for h in s.heating_values:
                self._heating.setdefault(h.fuel, h)

    def regions(self, kind: FactorKind = "location") -> set[str]:
        """Regions with at least one factor of `kind`."""
        return {r for (r, k) in self._entries if k == kind}

    def lookup(
        self, region: str, kind: FactorKind, year: int | None = None, basis: str = "direct"
    ) -> ResolvedFactor:
        """The factor of `kind` for `region` (or its nearest ancestor) and `year`, kg/kWh."""
        for candidate in parent_regions(region):
            entries = [
                e for e in self._entries.get((candidate, kind), []) if e.factor.basis == basis
            ]
            if entries:
                return self._resolve(candidate, kind, entries, year)
        raise FactorNotFound(f"no {basis} {kind} factor for region {region!r}")

    def _resolve(
        self, region: str, kind: FactorKind, entries: list[_Entry], year: int | None
    ) -> ResolvedFactor:
        years = sorted({e.year for e in entries})
        before = [y for y in years if year is None or y <= year]
        chosen = before[-1] if before else years[0]
        by_gas = {e.factor.gas: e for e in entries if e.year == chosen}
        if "CO2e" in by_gas:
            used = [by_gas["CO2e"]]
            value, gas = to_kg_per(used[0].factor.unit, "kWh") * used[0].factor.value, "CO2e"
        elif "CO2" in by_gas:
            used = [by_gas[g] for g in ("CO2", "CH4", "N2O") if g in by_gas]
            gwp = GWP100[self.gwp]
            value = sum(
                to_kg_per(e.factor.unit, "kWh") * e.factor.value * gwp[e.factor.gas] for e in used
            )
            gas = "CO2e" if len(used) == 3 else "CO2"
        else:
            raise FactorNotFound(f"{kind} factor for {region!r} {chosen} has no CO2 or CO2e")
        return ResolvedFactor(
            region=region,
            kind=kind,
            year=chosen,
            value=value,
            gas=gas,
            set_id=used[0].set_id,
            provenance=tuple(e.provenance for e in used),
        )

    def location_factor(self, region: str, year: int | None = None) -> float:
        """Grid-average (location-based) factor, kgCO2e/kWh (kgCO2/kWh for CO2-only data)."""
        return self.lookup(region, "location", year).value

    def residual(self, region: str, year: int | None = None) -> ResolvedFactor:
        """Residual-mix factor; the location factor stands in where none is published
        (GHG Protocol Scope 2 Guidance, Table 6.3 hierarchy), marked by `fallback`."""
        try:
            return self.lookup(region, "residual_mix", year)
        except FactorNotFound:
            loc = self.lookup(region, "location", year)
            return _replace_fallback(loc, "location")

    def residual_mix(self, region: str, year: int | None = None) -> float:
        """Residual-mix factor, kgCO2e/kWh (location factor when none is published)."""
        return self.residual(region, year).value

    def marginal_detail(self, region: str, year: int | None = None) -> ResolvedFactor:
        """Marginal factor for avoided emissions; the location factor stands in, marked."""
        try:
            return self.lookup(region, "marginal", year)
        except FactorNotFound:
            return _replace_fallback(self.lookup(region, "location", year), "location")

    def marginal(self, region: str, year: int | None = None) -> float:
        """Marginal factor, kgCO2e/kWh, for avoided emissions."""
        return self.marginal_detail(region, year).value

    def fuel(self, fuel: str = "natural_gas", year: int | None = None) -> FuelFactors:
        """CO2, CH4 and N2O per kWh of fuel energy (net calorific value) for `fuel`."""
        entries = self._entries.get((fuel, "fuel"), [])
        if not entries:
            raise FactorNotFound(f"no fuel factors for {fuel!r}")
        years = sorted({e.year for e in entries})
        before = [y for y in years if year is None or y <= year]
        chosen = before[-1] if before else years[0]
        by_gas: dict[str, _Entry] = {e.factor.gas: e for e in entries if e.year == chosen}
        if "CO2" not in by_gas:
            raise FactorNotFound(f"fuel {fuel!r} has no CO2 factor")

        def per_kwh(gas: str) -> float:
            e = by_gas.get(gas)
            return 0.0 if e is None else to_kg_per(e.factor.unit, "kWh") * e.factor.value

        hv = self._heating.get(fuel)
        return FuelFactors(
            fuel=fuel,
            co2_kg_per_kwh=per_kwh("CO2"),
            ch4_kg_per_kwh=per_kwh("CH4"),
            n2o_kg_per_kwh=per_kwh("N2O"),
            kwh_per_m3=None if hv is None else hv.kwh_per_m3(),
            gwp=self.gwp,
            set_id=by_gas["CO2"].set_id,
        )

    def fuels(self, method: FuelMethod | None = None) -> set[str]:
        """Fuel ids with stationary combustion defaults under `method` (default: the book's)."""
        m = method or self.fuel_method
        return {f for (k, f) in self._fuels if k == m}

    def combustion(self, fuel: str, method: FuelMethod | None = None) -> CombustionFactors:
        """Stationary combustion factors of `fuel` under `method` (default: the programme's).

        A fuel the method has no default for (e.g. biomass under China's guidelines) takes
        the IPCC 2006 defaults, marked `fallback="ipcc2006"`; a missing NCV for mass or volume
        is taken from the other method's set for the same fuel, named in `ncv_from`.
        """
        m: FuelMethod = method or self.fuel_method
        found = self._fuels.get((m, fuel))
        fallback = ""
        if found is None and m != "ipcc2006":
            found = self._fuels.get(("ipcc2006", fuel))
            fallback = "ipcc2006"
        if found is None:
            raise FactorNotFound(f"no {m} stationary combustion defaults for fuel {fuel!r}")
        props, fset = found
        gj: dict[str, float] = {}
        ncv_from: dict[str, str] = {}
        other_method: FuelMethod = "china" if m == "ipcc2006" else "ipcc2006"
        for candidate in (self._fuels.get((m, fuel)), self._fuels.get((other_method, fuel))):
            per = candidate[0].gj_per() if candidate else None
            if candidate is not None and per is not None and per[0] not in gj:
                gj[per[0]] = per[1]
                ncv_from[per[0]] = candidate[1].id
        if "m3" not in gj and fuel in self._heating:  # legacy heating_values (kWh/m3)
            gj["m3"] = self._heating[fuel].kwh_per_m3() * 3.6e-3
            ncv_from["m3"] = "heating_values"
        base = props.provenance or fset.provenance
        prov = (base, *(p for p in props.sources.values() if p != base))
        return CombustionFactors(
            fuel=fuel,
            method=m if not fallback else "ipcc2006",
            co2_kg_per_gj=props.co2_kg_per_gj(),
            ch4_kg_per_gj=props.ch4_kg_per_tj / 1000.0,
            n2o_kg_per_gj=props.n2o_kg_per_tj / 1000.0,
            biogenic=props.biogenic,
            gj_per_t=gj.get("t"),
            gj_per_m3=gj.get("m3"),
            gwp=self.gwp,
            set_id=fset.id,
            provenance=prov,
            fallback=fallback,
            ncv_from=tuple(sorted(ncv_from.items())),
        )

    def thermal(self, carrier: str, region: str = "CN", year: int | None = None) -> ResolvedFactor:
        """Purchased heat, steam or cooling factor, kg per kWh delivered. Steam without its
        own factor takes the heat factor (China's guidelines convert steam to heat), marked
        `fallback="heat"`; cooling has no default: give the network's own factor."""
        if carrier not in ("heat", "steam", "cooling"):
            raise FactorNotFound(f"unknown thermal carrier {carrier!r}")
        try:
            return self.lookup(region, carrier, year)  # type: ignore[arg-type]
        except FactorNotFound:
            if carrier != "steam":
                raise
            return _replace_fallback(self.lookup(region, "heat", year), "heat")


def _replace_fallback(f: ResolvedFactor, fallback: str) -> ResolvedFactor:
    return ResolvedFactor(
        f.region, f.kind, f.year, f.value, f.gas, f.set_id, f.provenance, fallback=fallback
    )
