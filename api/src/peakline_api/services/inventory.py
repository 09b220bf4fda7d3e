"""The yearly GHG inventory per site, district or city, as JSON and CSV.

Activity comes from the deriver's stored roll-ups (`totals.py`): grid electricity from the
`import` flow and the stored/computed Scope 2 sums, fuel from the `fuel:<fuel>` flows (in
the fuel meter's own unit), purchased heat, steam and cooling from the `heat:<network>`
flows (kWh); refrigerants from inventory.yaml's service records. The core
(`peakline_core.programme.inventory.site_inventory`) applies the factor book; sites add up
into districts and cities with `combine`.

Data centres (inventory.yaml `data_centres`): PUE and WUE for the year from the hourly
roll-ups of their meters' own flows (`dc:<device>`, `water:<device>`), listed apart from the
sites' carriers (sub-meters: their energy is already in the site's grid import).

Completeness, per site and metered carrier (`import`, `fuel:<fuel>`, `heat:<network>`): each
hour from the carrier's first stored hour of the year to the year's end or now is measured
(an `energy_1h` row with nothing estimated), estimated (part of its energy estimated: a gap
bridged, a frozen counter's catch-up) or missing (no row: no reading in that hour).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from datetime import date as Date
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from peakline_api.access import Access
from peakline_api.errors import UnknownId
from peakline_api.refrigerant_store import RefrigerantStore, ServiceEntry, ServiceKind
from peakline_api.services.reports import report_sites
from peakline_api.state import AppState
from peakline_api.statedb import StateDb
from peakline_api.timespec import iso
from peakline_api.totals import site_totals
from peakline_core.config.inventory import InventoryFile, RefrigerantAsset, ServiceRecord
from peakline_core.emissions.inventory import Inventory, Scope2Line, combine
from peakline_core.emissions.thermal import KWH_PER
from peakline_core.programme.inventory import data_centre_of, site_inventory
from peakline_core.storage import SeriesQuery
from peakline_core.storage.schema import ENERGY_1H, IMPORT_LEDGER

Level = Literal["site", "district", "city"]
FUEL_FLOW = "fuel:"
HEAT_FLOW = "heat:"
DC_FLOW = "dc:"
WATER_FLOW = "water:"
SUBMETERED = (DC_FLOW, WATER_FLOW)
"""Data-centre sub-meter flows: not GHG carriers, not in completeness."""
NS = 1_000_000_000
HOUR = 3600 * NS


class InventoryMethodsOut(BaseModel):
    gwp: str
    fuel_method: str
    refrigerants: str
    factor_sets: list[str]


class Scope1LineOut(BaseModel):
    source: str = Field(description='fuel id (natural_gas, raw_coal, ...) or "refrigerants"')
    category: str
    co2e_kg: float = Field(description="fossil CO2 + CH4 + N2O (+ HFCs) as CO2e")
    co2_kg: float
    ch4_kg: float
    n2o_kg: float
    biogenic_co2_kg: float = Field(description="reported apart, not in co2e_kg")
    non_kyoto_co2e_kg: float = Field(description="HCFC refrigerants, apart, not in co2e_kg")
    activity: float
    activity_unit: str
    method: str
    gases: str
    factor_set: str


class Scope1Out(BaseModel):
    total_co2e: float
    by_source: dict[str, float]
    lines: list[Scope1LineOut]


class Scope2LineOut(BaseModel):
    carrier: str
    energy_kwh: float
    location_kg: float
    market_kg: float
    factor_set: str
    gases: str


class Scope2Out(BaseModel):
    location: float
    market: float
    by_carrier: dict[str, dict[str, float]] = Field(
        description="carrier -> energy_kwh, location and market kg"
    )
    lines: list[Scope2LineOut]


class ReportedApart(BaseModel):
    biogenic_co2: float
    non_kyoto_co2e: float
    avoided_co2e: dict[str, float] = Field(description="by cause, never netted")


class InventoryIntensity(BaseModel):
    kg_per_m2: dict[str, float | None]
    kg_per_capita: dict[str, float | None]


class MeterShares(BaseModel):
    meter: str
    hours: int
    measured: float | None
    estimated: float | None
    imported: float | None
    missing: float | None


class InventoryCompleteness(BaseModel):
    overall: dict[str, float | None] = Field(description="share of all meter-hours per quality")
    meters: list[MeterShares]


class InventoryItem(BaseModel):
    """One site's, district's or city's inventory for the year, kg (core `Inventory`)."""

    level: str
    id: str
    year: int
    unit: str
    methods: InventoryMethodsOut
    scope1: Scope1Out
    scope2: Scope2Out
    total: dict[str, float] = Field(description="Scope 1 + Scope 2 by method")
    reported_apart: ReportedApart
    intensity: InventoryIntensity
    floor_area_m2: float
    population: int | None
    completeness: InventoryCompleteness
    not_covered: list[str]


class PueHourly(BaseModel):
    min: float
    p50: float
    p95: float
    max: float


class DataCentreOut(BaseModel):
    id: str
    site: str
    year: int
    hours: int
    hours_used: int
    suspect_hours: int
    facility_kwh: float | None
    it_kwh: float | None
    pue: float | None
    wue_l_per_kwh: float | None
    pue_hourly: PueHourly | None


class InventoryReport(BaseModel):
    level: Level
    year: int
    items: list[InventoryItem]
    data_centres: list[DataCentreOut]


class ServiceOut(BaseModel):
    id: str
    asset: str
    site: str
    date: Date
    kind: str
    kg: float
    note: str
    recorded_by: str
    recorded_at: str


def year_bounds_ns(year: int) -> tuple[int, int]:
    """[1 Jan `year`, 1 Jan `year`+1) in UTC ns."""
    lo = datetime(year, 1, 1, tzinfo=UTC)
    hi = datetime(year + 1, 1, 1, tzinfo=UTC)
    return int(lo.timestamp()) * NS, int(hi.timestamp()) * NS


async def inventories(caller: Access, state: AppState, level: Level, year: int) -> list[Inventory]:
    """The inventories of the caller's sites, districts or cities for `year`, by id; district
    and city inventories leave out grid assets (`Site.in_totals`)."""
    sites = report_sites(caller, [], [], [], level)
    if level != "site":
        sites = [s for s in sites if s.in_totals]
    reg = caller.registry
    config = reg.config
    book = config.factor_book()
    inv_cfg = with_posted_service(config.inventory, refrigerants_db(state))
    start, end = year_bounds_ns(year)
    totals = await site_totals(state.store, sites, book, start, end)
    quality = await hourly_quality(state, [s.id for s in sites], start, min(end, state.clock_ns()))
    per_site: list[tuple[Any, Inventory]] = []
    for s in sites:
        t = totals[s.id]
        fuel: dict[str, float] = {}
        seen: set[str] = set()
        for m in (m for m in inv_cfg.fuel_meters if m.site == s.id):
            # one flow per (site, fuel): its first meter carries it
            if m.fuel not in seen:
                fuel[m.id] = t.energy_kwh.get(f"{FUEL_FLOW}{m.fuel}", 0.0)
                seen.add(m.fuel)
        heat: dict[str, float] = {}
        seen = set()
        for h in (h for h in inv_cfg.heat_meters if h.site == s.id):
            if h.network not in seen:
                kwh = t.energy_kwh.get(f"{HEAT_FLOW}{h.network}", 0.0)
                heat[h.id] = kwh / KWH_PER[h.unit]
                seen.add(h.network)
        electricity = Scope2Line(
            "electricity",
            t.energy_kwh.get("import", 0.0),
            t.location_kg or 0.0,
            t.market_kg or 0.0,
            "",
            "",
        )
        inv = site_inventory(
            s.id,
            year,
            book,
            inv_cfg,
            floor_area_m2=s.floor_area_m2,
            fuel_activity={k: [v] for k, v in fuel.items()},
            heat_energy={k: [v] for k, v in heat.items()},
            electricity=electricity,
            quality=quality.get(s.id),
        )
        per_site.append((s, inv))
    if level == "site":
        return sorted((inv for _, inv in per_site), key=lambda i: i.entity_id)
    groups: dict[str, list[Inventory]] = defaultdict(list)
    for s, inv in per_site:
        groups[s.district if level == "district" else s.city].append(inv)
    out = []
    for gid, parts in sorted(groups.items()):
        population = reg.cities[gid].population if level == "city" else None
        out.append(combine(level, gid, parts, population))
    return out


async def hourly_quality(
    state: AppState, sites: list[str], start: int, end: int
) -> dict[str, dict[str, Any]]:
    """site -> carrier flow -> quality code per hour (0 measured, 1 estimated, 2 imported,
    3 missing) from the carrier's first stored hour in [start, end) to `end`.

    Imported: an hour inside the span of a committed import of the site's flow (its
    `import_ledger` row; live data over an imported span is refused, so the span is the
    import's). An estimated hour stays estimated whatever its source (a bill spread over
    its days is both: it counts as estimated)."""
    if not sites or end <= start:
        return {}
    where = {"site": sites}
    kwh, est, lo_rows, hi_rows = await asyncio.gather(
        *(
            state.store.query(SeriesQuery(ENERGY_1H, fld, start, end, where=where))
            for fld in ("kwh", "estimated_kwh")
        ),
        *(
            state.store.query(SeriesQuery(IMPORT_LEDGER, fld, 0, state.clock_ns() + 1, where))
            for fld in ("from_ns", "to_ns")
        ),
    )
    estimated = {
        (x.tags.get("site", ""), x.tags.get("flow", ""), int(t))
        for x in est
        for t, v in zip(x.times, x.values, strict=True)
        if isinstance(v, int | float) and v > 0
    }
    spans: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    ends = {
        (x.tags.get("site", ""), x.tags.get("device", ""), x.tags.get("flow", ""), int(t)): v
        for x in hi_rows
        for t, v in zip(x.times, x.values, strict=True)
    }
    for x in lo_rows:
        for t, v in zip(x.times, x.values, strict=True):
            key = (x.tags.get("site", ""), x.tags.get("device", ""), x.tags.get("flow", ""))
            to = ends.get((*key, int(t)))
            if isinstance(v, int | float) and isinstance(to, int | float):
                spans[(key[0], key[2])].append((int(v), int(to)))

    def imported(site: str, flow: str, t: int) -> bool:
        return any(lo <= t < hi for lo, hi in spans.get((site, flow), ()))

    out: dict[str, dict[str, Any]] = defaultdict(dict)
    hour = 3600 * NS
    last = -(-end // hour)
    for series in kwh:
        site, flow = series.tags.get("site", ""), series.tags.get("flow", "")
        if not series.times or flow in ("export", "pv") or flow.startswith(SUBMETERED):
            continue
        first = min(series.times) // hour
        codes = [3] * (last - first)
        for t in series.times:
            if (site, flow, int(t)) in estimated:
                codes[t // hour - first] = 1
            else:
                codes[t // hour - first] = 2 if imported(site, flow, int(t)) else 0
        out[site][flow] = codes
    return out


def refrigerants_db(state: AppState) -> Path | StateDb:
    """The shared state database, else `refrigerants.db` next to the key database."""
    if state.state_db is not None:
        return state.state_db
    return state.settings.keys_db.with_name("refrigerants.db")


def with_posted_service(inventory: InventoryFile, db: Path | StateDb) -> InventoryFile:
    """inventory.yaml's assets with the service records posted through the API appended."""
    if not inventory.refrigerant_assets:
        return inventory
    with RefrigerantStore(db) as store:
        posted = store.of_assets([a.id for a in inventory.refrigerant_assets])
    if not posted:
        return inventory
    by_asset: dict[str, list[ServiceRecord]] = defaultdict(list)
    for e in posted:
        by_asset[e.asset].append(ServiceRecord(date=e.day, kind=e.kind, kg=e.kg, note=e.note))
    assets = [
        a.model_copy(update={"service": [*a.service, *by_asset.get(a.id, [])]})
        for a in inventory.refrigerant_assets
    ]
    return inventory.model_copy(update={"refrigerant_assets": assets})


async def data_centres(caller: Access, state: AppState, year: int) -> list[DataCentreOut]:
    """PUE and WUE of every data centre at the caller's sites for `year`, from the hourly
    roll-ups of their meters' flows (`dc:<device>` kWh, `water:<device>` litres): per hour
    facility / IT where every meter has the hour, and the year's figure as the ratio of the
    sums over those hours (core `data_centre_of`)."""
    visible = {s.id for s in report_sites(caller, [], [], [], "site")}
    centres = [d for d in caller.registry.config.inventory.data_centres if d.site in visible]
    if not centres:
        return []
    start, end = year_bounds_ns(year)
    end = min(end, state.clock_ns())
    hours = max(0, -(-(end - start) // HOUR))
    flows = sorted(
        {f"{DC_FLOW}{d}" for c in centres for d in (*c.facility_meters, *c.it_meters)}
        | {f"{WATER_FLOW}{c.water_meter}" for c in centres if c.water_meter}
    )
    answer = await state.store.query(
        SeriesQuery(ENERGY_1H, "kwh", start, end,
                    where={"site": sorted({c.site for c in centres}), "flow": flows})
    )  # fmt: skip
    per_flow: dict[tuple[str, str], np.ndarray] = {}
    for s in answer:
        row = np.full(hours, np.nan)
        for t, v in zip(s.times, s.values, strict=True):
            if isinstance(v, int | float) and 0 <= (t - start) // HOUR < hours:
                row[(t - start) // HOUR] = float(v)
        per_flow[(s.tags.get("site", ""), s.tags.get("flow", ""))] = row
    out = []
    for c in centres:
        energy = {
            d: per_flow.get((c.site, f"{DC_FLOW}{d}"), np.full(hours, np.nan))
            for d in (*c.facility_meters, *c.it_meters)
        }
        water = (
            {c.water_meter: per_flow.get((c.site, f"{WATER_FLOW}{c.water_meter}"),
                                         np.full(hours, np.nan))}
            if c.water_meter
            else None
        )  # fmt: skip
        m = data_centre_of(c, energy, water) if hours else None
        hourly = m.pue[0][np.isfinite(m.pue[0])] if m is not None else np.empty(0)
        out.append(
            DataCentreOut(
                id=c.id,
                site=c.site,
                year=year,
                hours=hours,
                hours_used=int(m.intervals_used[0]) if m is not None else 0,
                suspect_hours=int(m.suspect[0]) if m is not None else 0,
                facility_kwh=_num(m.facility_kwh[0]) if m is not None else None,
                it_kwh=_num(m.it_kwh[0]) if m is not None else None,
                pue=_num(m.pue_period[0]) if m is not None else None,
                wue_l_per_kwh=(
                    _num(m.wue_period[0]) if m is not None and m.wue_period is not None else None
                ),
                pue_hourly=(
                    PueHourly(
                        min=float(hourly.min()),
                        p50=float(np.median(hourly)),
                        p95=float(np.percentile(hourly, 95)),
                        max=float(hourly.max()),
                    )
                    if hourly.size
                    else None
                ),
            )
        )
    return out


def _num(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def visible_asset(caller: Access, asset: str) -> RefrigerantAsset:
    """The refrigerant asset, if its site is visible to the caller (else 404, no leak)."""
    found = next(
        (a for a in caller.registry.config.inventory.refrigerant_assets if a.id == asset), None
    )
    if found is None:
        raise UnknownId(f"no refrigerant asset {asset!r}")
    caller.site(found.site)  # raises UnknownId outside the caller's tenancy
    return found


def service_out(e: ServiceEntry, site: str) -> ServiceOut:
    return ServiceOut(
        id=e.id,
        asset=e.asset,
        site=site,
        date=e.day,
        kind=e.kind,
        kg=e.kg,
        note=e.note,
        recorded_by=e.recorded_by,
        recorded_at=iso(e.recorded_at_ns),
    )


async def inventory_report(
    caller: Access, state: AppState, level: Level, year: int
) -> InventoryReport:
    """The inventories per site, district or city and the data centres' PUE and WUE."""
    items, centres = await asyncio.gather(
        inventories(caller, state, level, year), data_centres(caller, state, year)
    )
    return InventoryReport(
        level=level,
        year=year,
        items=[InventoryItem.model_validate(i.as_dict()) for i in items],
        data_centres=centres,
    )


def add_service(
    state: AppState,
    a: RefrigerantAsset,
    day: Date,
    kind: ServiceKind,
    kg: float,
    note: str,
    key_id: str,
) -> ServiceOut:
    """Record one top-up or recovery of a refrigerant asset, as the API shows it."""
    with RefrigerantStore(refrigerants_db(state)) as store:
        e = store.add(a.id, day, kind, kg, note, key_id, state.clock_ns())
    return service_out(e, a.site)


def services_of(state: AppState, a: RefrigerantAsset) -> list[ServiceOut]:
    """The service records posted through the API for an asset."""
    with RefrigerantStore(refrigerants_db(state)) as store:
        return [service_out(e, a.site) for e in store.of_assets([a.id])]
