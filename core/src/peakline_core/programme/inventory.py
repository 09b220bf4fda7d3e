"""Assemble a site's annual GHG inventory from inventory.yaml and its meters' data (pure).

The caller (API, report job) reads the year's interval data per meter from storage and
passes arrays keyed by meter id; this module picks factors from the factor book (with the
programme's GWP set and fuel method), runs the emissions core and returns an `Inventory`.
Sites add up into districts and cities with `peakline_core.emissions.combine`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from peakline_core.config.inventory import (
    DataCentre,
    HeatNetwork,
    InventoryFile,
    RefrigerantAsset,
)
from peakline_core.emissions.book import FactorBook
from peakline_core.emissions.combustion import FuelBlock, scope1_combustion
from peakline_core.emissions.datacentre import DataCentreMetrics, data_centre_metrics
from peakline_core.emissions.gwp import GwpSet
from peakline_core.emissions.inventory import (
    Inventory,
    InventoryMethods,
    MeterCompleteness,
    Scope1Line,
    Scope2Line,
    completeness,
)
from peakline_core.emissions.inventory_lines import combustion_lines, refrigerant_line
from peakline_core.emissions.refrigerants import (
    RefrigerantResult,
    fugitive_refrigerants,
    retrofit_avoided_kg,
)
from peakline_core.emissions.thermal import KWH_PER, scope2_thermal, thermal_kwh

_KWH_PER_GJ = KWH_PER["GJ"]


def network_factors(
    network: HeatNetwork, book: FactorBook, year: int
) -> tuple[float, float, str, str]:
    """(location, market) kg per kWh delivered, the factor's source and gases for a network:
    its own published factor, else the book's default for its carrier and region; market:
    its supplier-specific factor, else the location factor."""
    if network.location_kg_per_gj is not None:
        loc = network.location_kg_per_gj / _KWH_PER_GJ
        source = f"network:{network.id}"
        gases = "CO2"
    else:
        f = book.thermal(network.carrier, network.region, year)
        loc, source, gases = f.value, f.set_id, f.gas
    mkt = loc if network.market_kg_per_gj is None else network.market_kg_per_gj / _KWH_PER_GJ
    return loc, mkt, source, gases


def refrigerants_of(
    assets: Sequence[RefrigerantAsset], year: int, gwp: GwpSet, threshold: float
) -> RefrigerantResult:
    """Mass balance of `assets` over calendar `year` (top-ups, unrecovered charge of assets
    retired that year), with the leak flag at `threshold`."""
    totals = [a.year_totals(year) for a in assets]
    return fugitive_refrigerants(
        [a.refrigerant for a in assets],
        [a.charge_kg for a in assets],
        [t[0] for t in totals],
        gwp,
        retired_charge_kg=[a.retired_charge_kg(year) for a in assets],
        recovered_kg=[t[1] for t in totals],
        threshold=threshold,
    )


def retrofit_avoided(
    assets: Sequence[RefrigerantAsset],
    all_assets: Sequence[RefrigerantAsset],
    year: int,
    gwp: GwpSet,
) -> float:
    """Avoided kgCO2e in `year` of low-GWP retrofits among `assets`: the replaced asset's
    top-ups in its last full year before retirement at its GWP, minus this asset's top-ups
    in `year` at its own. Reported apart, never netted."""
    by_id = {a.id: a for a in all_assets}
    total = 0.0
    for a in assets:
        old = by_id.get(a.replaces or "")
        if old is None or old.retired is None:
            continue
        baseline = old.year_totals(old.retired.year - 1)[0]
        total += retrofit_avoided_kg(
            baseline, old.refrigerant, a.refrigerant, gwp, a.year_totals(year)[0]
        )
    return total


def data_centre_of(
    dc: DataCentre, energy_kwh: Mapping[str, Any], water_l: Mapping[str, Any] | None = None
) -> DataCentreMetrics:
    """PUE (and WUE) of one data centre: `energy_kwh` maps device id -> kWh per interval
    [time] (hourly over a year gives hourly and annual figures); its facility meters add up,
    so do its IT meters; `water_l` maps the water meter's device id -> litres per interval."""
    facility = np.sum(_rows([energy_kwh.get(d) for d in dc.facility_meters]), axis=0)
    it = np.sum(_rows([energy_kwh.get(d) for d in dc.it_meters]), axis=0)
    water = None
    if dc.water_meter is not None and water_l is not None:
        water = _rows([water_l.get(dc.water_meter)])[0]
    return data_centre_metrics(facility, it, water)


def site_inventory(
    site_id: str,
    year: int,
    book: FactorBook,
    inventory: InventoryFile,
    *,
    floor_area_m2: float,
    fuel_activity: Mapping[str, Any] | None = None,
    heat_energy: Mapping[str, Any] | None = None,
    electricity: Scope2Line | None = None,
    quality: Mapping[str, Any] | None = None,
) -> Inventory:
    """The inventory of one site for `year`.

    `fuel_activity`: fuel meter id -> fuel burned per interval in the meter's unit [time];
    `heat_energy`: heat meter id -> energy per interval in the meter's unit [time];
    `electricity`: the site's grid electricity line (from `compute_emissions` sums);
    `quality`: meter id -> quality codes per hour of the year (0 measured, 1 estimated,
    2 imported, 3 missing) for the completeness table. Meters without data count zero.
    """
    lines1: list[Scope1Line] = []
    fuel_meters = [m for m in inventory.fuel_meters if m.site == site_id]
    if fuel_meters:
        factors = [book.combustion(m.fuel) for m in fuel_meters]
        units = [m.unit for m in fuel_meters]
        acts = _rows([(fuel_activity or {}).get(m.id) for m in fuel_meters])
        block = FuelBlock.from_factors(factors, units, [m.ncv_gj_per_unit for m in fuel_meters])
        lines1.extend(combustion_lines(factors, units, acts, scope1_combustion(acts, block)))
    assets = [a for a in inventory.refrigerant_assets if a.site == site_id]
    avoided: dict[str, float] = {}
    if assets:
        result = refrigerants_of(assets, year, book.gwp, inventory.leak_threshold)
        lines1.append(refrigerant_line(result, book.gwp))
        saved = retrofit_avoided(assets, inventory.refrigerant_assets, year, book.gwp)
        if saved:
            avoided["refrigerant_retrofit"] = saved
    lines2: list[Scope2Line] = [] if electricity is None else [electricity]
    networks = {n.id: n for n in inventory.heat_networks}
    for meter in (h for h in inventory.heat_meters if h.site == site_id):
        network = networks[meter.network]
        loc, mkt, source, gases = network_factors(network, book, year)
        raw = (heat_energy or {}).get(meter.id)
        kwh = thermal_kwh(_rows([raw]), meter.unit)
        r = scope2_thermal(kwh, loc, mkt)
        lines2.append(
            Scope2Line(
                network.carrier,
                float(np.nansum(kwh)),
                float(np.nansum(r.location_kg)),
                float(np.nansum(r.market_kg)),
                source,
                gases,
            )
        )
    meters: tuple[MeterCompleteness, ...] = ()
    if quality:
        ids = sorted(quality)
        width = max(len(np.asarray(quality[i])) for i in ids)
        codes = np.full((len(ids), width), 3)
        for row, i in enumerate(ids):
            q = np.asarray(quality[i])
            codes[row, : len(q)] = q
        meters = completeness(ids, codes)
    used = [line.factor_set for line in lines1] + [line.factor_set for line in lines2]
    sets = sorted({s for s in used if s})
    return Inventory(
        level="site",
        entity_id=site_id,
        year=year,
        methods=InventoryMethods(book.gwp, book.fuel_method, factor_sets=tuple(sets)),
        scope1=tuple(lines1),
        scope2=tuple(lines2),
        meters=meters,
        floor_area_m2=floor_area_m2,
        avoided_kg=avoided,
    )


def _rows(series: Sequence[Any]) -> Any:
    """Series of possibly different lengths (or None) as one [rows, time] array, NaN-padded."""
    arrays = [np.zeros(1) if s is None else np.asarray(s, dtype=np.float64) for s in series]
    width = max(len(a) for a in arrays)
    out = np.full((len(arrays), width), np.nan)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out
