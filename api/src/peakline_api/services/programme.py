"""Programme benchmarking: every city (or district) with the same definitions, as JSON or CSV.

Each figure carries its inputs: the sites summed, their imported kWh, and the grid factor used
for each (factor set id, region, year, kgCO2e/kWh), so a reader can recompute it by hand.
Emissions here are location-based Scope 2 of metered grid imports (the one definition every
partner city can apply); definitions are in `peakline_core.programme.benchmark`.

City rows of public cities are readable by every key (partners benchmark each other); their
per-site inputs only by keys that see the city. District rows need the city in scope.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import structlog
from pydantic import BaseModel, Field

from peakline_api.access import Access
from peakline_api.errors import InvalidQuery
from peakline_api.params import TimeRange
from peakline_api.registry import Registry
from peakline_api.retrofit_store import RetrofitStore
from peakline_api.services.city_status import DAY_NS, Period, daily_rows, judge
from peakline_api.services.retrofits import measured_savings, retrofits_db
from peakline_api.state import AppState
from peakline_api.timespec import NS, iso
from peakline_api.totals import energy_by_flow, location_kg
from peakline_core.config import City, Site
from peakline_core.emissions import FactorBook, FactorNotFound, track
from peakline_core.programme import THRESHOLDS, benchmark, combine_uncertainty, summarise
from peakline_core.storage import Aggregate, SeriesQuery, Store
from peakline_core.storage.schema import READING

FLOW = "import"
Level = Literal["city", "district"]


class SiteFactor(BaseModel):
    """The location-based grid factor priced into a site's figure."""

    set_id: str
    region: str
    year: int
    kgco2e_per_kwh: float
    gas: str | None = None


class RetrofitCounted(BaseModel):
    """One retrofit's measured savings to date, or why it is not counted (`reason`)."""

    id: str
    counted: bool
    reason: str | None
    avoided_kwh: float | None = None
    uncertainty_kwh: float | None = None
    avoided_tco2e: float | None = None
    significant: bool | None = None


class SiteInput(BaseModel):
    site: str
    district: str
    floor_area_m2: float
    energy_kwh: float
    previous_energy_kwh: float | None
    factor: SiteFactor | None
    emissions_kgco2e: float | None
    reported_emissions_kgco2e: float | None
    retrofits: list[RetrofitCounted]


class BenchmarkIntensity(BaseModel):
    kgco2e_per_capita: float | None
    kgco2e_per_m2: float | None
    kwh_per_m2: float | None
    kgco2e_per_kwh: float | None


class Trajectory(BaseModel):
    """The city's path judged like for like (the `trajectory` definition)."""

    cap_kgco2e: float
    projected_kgco2e: float
    past_peak: bool
    year: int
    peak_year: int
    basis: str | None
    reason: str | None
    on_track: bool | None
    period_start: str | None = None
    period_end: str | None = None
    compared_sites: list[str] | int = Field(
        description="the sites compared; their number only in another city's row"
    )
    actual_kgco2e: float | None
    allowed_kgco2e: float | None


class SiteTargets(BaseModel):
    sites: list[str]
    site_count: int
    year: int
    cap_kgco2e: float | None
    projected_kgco2e: float | None
    on_track: bool | None


class RetrofitTotals(BaseModel):
    counted: int
    avoided_kwh: float
    uncertainty_kwh: float
    avoided_tco2e: float


class BenchmarkRow(BaseModel):
    level: str
    id: str
    name: str
    city: str
    sites: int
    floor_area_m2: float
    population: int | None
    energy_kwh: float
    emissions_kgco2e: float
    reported_kgco2e: float | None
    previous_emissions_kgco2e: float | None
    trend: float | None
    intensity: BenchmarkIntensity
    trajectory: Trajectory | None
    site_targets: SiteTargets
    retrofits: RetrofitTotals
    factors: list[SiteFactor]
    inputs: list[SiteInput] | None = Field(
        default=None, description="per site; only in rows of cities the caller sees"
    )


class ProgrammeReport(BaseModel):
    programme: str
    start: str
    end: str
    level: str
    definitions: dict[str, str]
    items: list[BenchmarkRow]


class AirPoint(BaseModel):
    unit: str
    hours: int
    mean: float
    p95: float
    max: float
    threshold: float
    share_above: float


class AirDistrict(BaseModel):
    district: str
    city: str
    name: str
    sensors: list[str]
    points: dict[str, AirPoint]


class AirQualityReport(BaseModel):
    start: str
    end: str
    items: list[AirDistrict]


def _sites(caller: Access, level: str) -> list[Site]:
    """The sites a benchmark sums: grid assets (feeders) are left out (`Site.in_totals`)."""
    if level == "city":
        cities = {c for c in caller.registry.cities if caller.may_report_city(c)}
        return [s for s in caller.registry.sites.values() if s.city in cities and s.in_totals]
    return [s for s in caller.visible_sites() if s.in_totals]


def _factor(book: FactorBook, site: Site, year: int) -> dict[str, Any] | None:
    try:
        f = book.lookup(site.grid_region, "location", year)
    except FactorNotFound:
        return None
    return {"set_id": f.set_id, "region": f.region, "year": f.year,
            "kgco2e_per_kwh": f.value, "gas": f.gas}  # fmt: skip


async def _site_kwh(state: AppState, sites: list[Site], start: int, end: int) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for (site, flow), kwh in (
        await energy_by_flow(state.store, [s.id for s in sites], start, end)
    ).items():
        if flow == FLOW:
            out[site] += kwh
    return out


async def _retrofit_savings(state: AppState, sites: list[Site]) -> dict[str, list[dict[str, Any]]]:
    """Per site, each retrofit's measured savings to date (or why there are none)."""
    by_id = {s.id: s for s in sites}
    with RetrofitStore(retrofits_db(state)) as store:
        retrofits = store.of_sites(list(by_id))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in retrofits:
        try:
            rep = await measured_savings(state, r, by_id[r.site])
        except InvalidQuery as exc:
            out[r.site].append({"id": r.id, "counted": False, "reason": exc.detail})
            continue
        except (ArithmeticError, ValueError) as exc:  # one bad retrofit never fails the report
            structlog.get_logger("peakline.api.programme").warning(
                "retrofit savings failed", retrofit=r.id, error=repr(exc)
            )
            out[r.site].append({"id": r.id, "counted": False, "reason": "could not be computed"})
            continue
        counted = rep.baseline.fit_for_purpose
        out[r.site].append(
            {"id": r.id, "counted": counted,
             "reason": None if counted else "; ".join(rep.baseline.warnings),
             "avoided_kwh": rep.avoided_kwh, "uncertainty_kwh": rep.uncertainty_kwh,
             "avoided_tco2e": rep.avoided_tco2e, "significant": rep.significant}
        )  # fmt: skip
    return out


async def programme_report(
    caller: Access, state: AppState, tr: TimeRange, level: str
) -> ProgrammeReport:
    """The benchmark rows and the definitions they use (rows of cities the caller does not
    see carry no `inputs`: the field is unset, and the endpoint leaves unset fields out)."""
    reg = caller.registry
    sites = _sites(caller, level)
    span = tr.end_ns - tr.start_ns
    now, before = (
        await _site_kwh(state, sites, tr.start_ns, tr.end_ns),
        await _site_kwh(state, sites, tr.start_ns - span, tr.start_ns),
    )
    # What the overview and reports show for the same sites and period (hourly grid intensity
    # where the region has a signal): the benchmark itself prices every city at the annual
    # factor, so that cities with and without a signal compare like for like.
    reported = await location_kg(state.store, [s.id for s in sites], tr.start_ns, tr.end_ns)
    year = datetime.fromtimestamp(tr.start_ns / NS, tz=UTC).year
    book = reg.config.factor_book()
    factors = {s.id: _factor(book, s, year) for s in sites}
    savings = await _retrofit_savings(state, sites)
    group: Callable[[Site], str] = (lambda s: s.city) if level == "city" else (lambda s: s.district)
    groups: dict[str, list[Site]] = defaultdict(list)
    for s in sites:
        groups[group(s)].append(s)
    ids = sorted(groups)

    def kg(kwh: dict[str, float], s: Site) -> float:
        f = factors[s.id]
        return kwh.get(s.id, 0.0) * f["kgco2e_per_kwh"] if f else float("nan")

    def total(values: list[float]) -> float:
        return float(np.nansum(values)) if values else 0.0

    energy = np.array([total([now.get(s.id, 0.0) for s in groups[g]]) for g in ids])
    emissions = np.array([total([kg(now, s) for s in groups[g]]) for g in ids])
    # Like for like: the trend compares only the sites metered in both periods (a site whose
    # history was imported for one period only would otherwise read as a jump).
    both = {g: [s for s in groups[g] if s.id in before and s.id in now] for g in ids}
    previous = np.array([total([kg(before, s) for s in both[g]]) for g in ids])
    compared = np.array([total([kg(now, s) for s in both[g]]) for g in ids])
    previous = np.where(np.array([bool(both[g]) for g in ids]), previous, np.nan)
    area = np.array([sum(s.floor_area_m2 for s in groups[g]) for g in ids], dtype=np.float64)
    population = np.array(
        [float(reg.cities[g].population or np.nan) if level == "city" else np.nan for g in ids]
    )
    b = benchmark(energy, emissions, previous, area, population)
    trend = benchmark(compared, compared, previous, area, population).trend
    items = []
    for i, g in enumerate(ids):
        members = groups[g]
        city = members[0].city
        detailed = caller.sees_city(city)
        done = [x for s in members for x in savings.get(s.id, []) if x["counted"]]
        item: dict[str, Any] = {
            "level": level,
            "id": g,
            "name": (reg.cities[g] if level == "city" else reg.districts[g]).name,
            "city": city,
            "sites": len(members),
            "floor_area_m2": float(area[i]),
            "population": None if np.isnan(population[i]) else int(population[i]),
            "energy_kwh": float(b.energy_kwh[i]),
            "emissions_kgco2e": float(b.emissions_kgco2e[i]),
            "reported_kgco2e": (
                sum(reported[s.id] for s in members if s.id in reported)
                if any(s.id in reported for s in members)
                else None
            ),
            "previous_emissions_kgco2e": _num(previous[i]),
            "trend": _num(trend[i]),
            "intensity": {
                "kgco2e_per_capita": _num(b.kgco2e_per_capita[i]),
                "kgco2e_per_m2": _num(b.kgco2e_per_m2[i]),
                "kwh_per_m2": _num(b.kwh_per_m2[i]),
                "kgco2e_per_kwh": _num(b.kgco2e_per_kwh[i]),
            },
            "trajectory": await judged_trajectory(
                state.store, reg.cities[city], members, tr, float(emissions[i])
            )
            if level == "city"
            else None,
            "site_targets": _site_targets(
                members, tr, {s.id: kg(now, s) for s in members}, caller.sees_city
            ),
            "retrofits": {
                "counted": len(done),
                "avoided_kwh": sum(x["avoided_kwh"] for x in done),
                "uncertainty_kwh": combine_uncertainty(
                    np.array([x["uncertainty_kwh"] for x in done])
                ),
                "avoided_tco2e": sum(x["avoided_tco2e"] or 0.0 for x in done),
            },
            "factors": _distinct_factors([factors[s.id] for s in members]),
        }
        if not detailed and item["trajectory"] is not None:
            # another city's row: its figures, not which of its sites were compared
            item["trajectory"]["compared_sites"] = len(item["trajectory"]["compared_sites"])
        if detailed:
            item["inputs"] = [
                {"site": s.id, "district": s.district, "floor_area_m2": s.floor_area_m2,
                 "energy_kwh": now.get(s.id, 0.0), "previous_energy_kwh": before.get(s.id),
                 "factor": factors[s.id], "emissions_kgco2e": _num(kg(now, s)),
                 "reported_emissions_kgco2e": reported.get(s.id),
                 "retrofits": savings.get(s.id, [])}
                for s in members
            ]  # fmt: skip
        items.append(item)
    return ProgrammeReport.model_validate({
        "programme": reg.config.programme.id,
        "start": iso(tr.start_ns),
        "end": iso(tr.end_ns),
        "level": level,
        "definitions": {
            "energy_kwh": f"metered grid electricity, energy flow {FLOW!r}, summed over sites",
            "emissions_kgco2e": "energy_kwh x location-based grid factor of each site's region "
            "in force for the period's start year (Scope 2, location-based), the same method "
            "for every city so that cities compare like for like",
            "reported_kgco2e": "the location-based Scope 2 the overview and reports show for "
            "the same sites and period: each hour's imports at the hour's measured grid "
            "intensity where the region has a signal, else at the annual factor; differs from "
            "emissions_kgco2e by the grid's hour-to-hour variation",
            "trend": "(emissions - previous period of the same length) / previous, over the "
            "sites metered in both periods (like for like)",
            "trajectory": "on_track judged like for like over the period's complete UTC days "
            "(as the overview's city cards): the sites' location-based emissions against the "
            "same dates last year times the city path's ratio cap(year)/cap(year-1), else "
            "the sites with their own targets against those targets pro rata, else no "
            "verdict and the reason; cap_kgco2e and projected_kgco2e are the city's cap for "
            "the year and the metered sites' emissions projected to a year, for reference "
            "only (partial coverage)",
            "retrofits": "measured savings to date of retrofits with fit-for-purpose baselines "
            "(IPMVP Option C); uncertainty is the root sum of squares at 90 %",
        },
        "items": items,
    })  # fmt: skip


def _distinct_factors(found: list[dict[str, Any] | None]) -> list[dict[str, Any]]:
    keys = sorted({(f["set_id"], f["region"], f["year"], f["kgco2e_per_kwh"]) for f in found if f})
    return [{"set_id": a, "region": r, "year": y, "kgco2e_per_kwh": v} for a, r, y, v in keys]


def _num(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def _year_share(tr: TimeRange) -> tuple[int, float]:
    """The year the period ends in (its last instant: a December ends on 1 January but is not
    in it), and the period's length as a share of that year."""
    end = datetime.fromtimestamp((tr.end_ns - 1) // NS, tz=UTC)
    jan1 = datetime(end.year, 1, 1, tzinfo=UTC)
    year_s = (datetime(end.year + 1, 1, 1, tzinfo=UTC) - jan1).total_seconds()
    return end.year, min(1.0, max((tr.end_ns - tr.start_ns) / NS / year_s, 1e-9))


def _trajectory(city: City, tr: TimeRange, kgco2e: float) -> dict[str, Any] | None:
    """The city's own peaking path: its inventory cap for the year against the metered
    emissions projected to a year (partial coverage: metered sites only). Not a verdict on
    its own (a few buildings against a whole city's cap): `judged_trajectory` gives it."""
    if city.target is None:
        return None
    year, elapsed = _year_share(tr)
    status = track(city.target, year, kgco2e, elapsed)
    return {
        "basis": "city inventory cap; metered sites only (partial coverage)",
        "year": status.year,
        "peak_year": city.target.peak_year,
        "cap_kgco2e": status.target_kgco2e,
        "projected_kgco2e": status.projected_kgco2e,
        "on_track": status.on_track,
        "past_peak": year >= city.target.peak_year,
    }


def whole_days(tr: TimeRange) -> Period | None:
    """The complete UTC days inside the range, or None when there is none."""
    first = -(-tr.start_ns // DAY_NS)  # ceiling: a day that began before the range is partial
    days = tr.end_ns // DAY_NS - first
    if days < 1:
        return None
    return Period(datetime.fromtimestamp(first * DAY_NS // NS, tz=UTC).date(), int(days))


async def judged_trajectory(
    store: Store, city: City, sites: list[Site], tr: TimeRange, kgco2e: float
) -> dict[str, Any] | None:
    """The city's path judged like for like, by the overview's rules (city_status.judge) over
    the range's complete UTC days: this year's sites against the same dates last year times
    the path's ratio, else the sites' own targets pro rata, else no verdict and the reason;
    with the partial-coverage projection of `kgco2e` (the sites' emissions over the range)
    beside it for reference. None without a target."""
    projection = _trajectory(city, tr, kgco2e)
    if projection is None:
        return None
    sites = [s for s in sites if s.in_totals]
    p = whole_days(tr)
    extra = {
        "cap_kgco2e": projection["cap_kgco2e"],
        "projected_kgco2e": projection["projected_kgco2e"],
        "past_peak": projection["past_peak"],
        "year": projection["year"],
        "peak_year": projection["peak_year"],
    }
    if p is None:
        return {**extra, "basis": None, "reason": "no_data", "on_track": None,
                "compared_sites": [], "actual_kgco2e": None, "allowed_kgco2e": None}  # fmt: skip
    ids = [s.id for s in sites]
    this, last = await asyncio.gather(
        daily_rows(store, ids, p), daily_rows(store, ids, p.last_year())
    )
    v = judge(city, sites, this, last, p)
    return {
        **extra,
        "basis": v.basis,
        "reason": v.reason,
        "on_track": v.on_track,
        "period_start": iso(p.start_ns),
        "period_end": iso(p.end_ns),
        "compared_sites": v.sites,
        "actual_kgco2e": float(v.actual[-1]) if v.basis is not None else None,
        "allowed_kgco2e": float(v.allowed[-1]) if v.allowed is not None else None,
    }


async def city_trajectory(
    store: Store, reg: Registry, city: str, tr: TimeRange
) -> dict[str, Any] | None:
    """One city's trajectory over `tr` as the programme page computes it (its metered grid
    imports, each site's location factor for the start year, the same cap and projection), with
    the emissions it used; None without a target. The `city_month` alert rule judges them with
    `judged_trajectory`."""
    sites = [s for s in reg.sites.values() if s.city == city and s.in_totals]
    kwh: dict[str, float] = defaultdict(float)
    for (site, flow), v in (
        await energy_by_flow(store, [s.id for s in sites], tr.start_ns, tr.end_ns)
    ).items():
        if flow == FLOW:
            kwh[site] += v
    year = datetime.fromtimestamp(tr.start_ns / NS, tz=UTC).year
    book = reg.config.factor_book()
    kg = []
    for s in sites:
        f = _factor(book, s, year)
        kg.append(kwh.get(s.id, 0.0) * f["kgco2e_per_kwh"] if f else float("nan"))
    emissions = float(np.nansum(kg)) if kg else 0.0
    row = _trajectory(reg.cities[city], tr, emissions)
    return None if row is None else {**row, "emissions_kgco2e": emissions}


def _site_targets(
    members: list[Site], tr: TimeRange, kg: dict[str, float], sees_city: Callable[[str], bool]
) -> dict[str, Any]:
    """Sites with their own targets: the sum of their caps for the year against the sum of
    their emissions projected to a year (like for like). Another city's row (a programme-wide
    comparison) counts its sites but names none: no existence oracle."""
    year, elapsed = _year_share(tr)
    rows = [
        track(s.target, year, kg[s.id], elapsed)
        for s in members
        if s.target is not None and np.isfinite(kg[s.id])
    ]
    cap = sum(r.target_kgco2e for r in rows)
    projected = sum(r.projected_kgco2e for r in rows)
    return {
        "sites": [s.id for s in members if s.target is not None and sees_city(s.city)],
        "site_count": sum(s.target is not None for s in members),
        "year": year,
        "cap_kgco2e": cap if rows else None,
        "projected_kgco2e": projected if rows else None,
        "on_track": (projected <= cap) if rows else None,
    }


AIR_POINTS = ("co2", "pm25")
HOUR_NS = 3600 * NS
MAX_AIR_HOURS = 24 * 366
"""Hourly buckets per series: a year at most."""
MAX_AIR_CELLS = 2_000_000
"""Series x hours held at once (16 MB of float64); past it, ask for a shorter range."""


async def air_quality(caller: Access, state: AppState, tr: TimeRange) -> AirQualityReport:
    """Per visible district and point: hourly means summarised (the endpoint says how)."""
    reg = caller.registry
    districts = sorted(d.id for d in caller.visible_districts())
    index = {d: i for i, d in enumerate(districts)}
    out: dict[str, dict[str, Any]] = {
        d: {"district": d, "city": reg.districts[d].city, "name": reg.districts[d].name,
            "sensors": [], "points": {}}
        for d in districts
    }  # fmt: skip
    sites = {s.id: s for s in caller.visible_sites()}
    span = max(1, (tr.end_ns - tr.start_ns + HOUR_NS - 1) // HOUR_NS)
    if span > MAX_AIR_HOURS:
        raise InvalidQuery(f"at most {MAX_AIR_HOURS} hours (a year) per request", param="start")
    for point in AIR_POINTS:
        devices = [
            d
            for d in caller.visible_devices()
            if point in reg.points.get(d.id, {}) and d.site in sites
        ]
        if not devices:
            continue
        series = await state.store.query(
            SeriesQuery(READING, "value", tr.start_ns, tr.end_ns,
                        {"site": sorted({d.site for d in devices}),
                         "device": [d.id for d in devices], "point": [point]},
                        every_ns=HOUR_NS, aggregate=Aggregate.MEAN)
        )  # fmt: skip
        if len(series) * span > MAX_AIR_CELLS:
            raise InvalidQuery(
                f"{len(series)} series x {span} hours is more than {MAX_AIR_CELLS:,}: "
                "ask for a shorter range",
                param="start",
            )
        hourly = np.full((len(series), span), np.nan)
        group = np.zeros(len(series), dtype=np.int64)
        for i, s in enumerate(series):
            group[i] = index[sites[s.tags["site"]].district]
            for ts, v in zip(s.times, s.values, strict=True):
                if isinstance(v, int | float):
                    hourly[i, min(span - 1, (ts - tr.start_ns) // HOUR_NS)] = float(v)
            out[sites[s.tags["site"]].district]["sensors"].append(s.tags["device"])
        summary = summarise(hourly, group, len(districts), THRESHOLDS[point])
        for d, k in index.items():
            if summary.hours[k]:
                out[d]["points"][point] = {
                    "unit": reg.points[devices[0].id][point].unit,
                    "hours": int(summary.hours[k]),
                    "mean": float(summary.mean[k]),
                    "p95": float(summary.p95[k]),
                    "max": float(summary.max[k]),
                    "threshold": THRESHOLDS[point],
                    "share_above": float(summary.share_above[k]),
                }
    for item in out.values():
        item["sensors"] = sorted(set(item["sensors"]))
    return AirQualityReport.model_validate(
        {"start": iso(tr.start_ns), "end": iso(tr.end_ns), "items": list(out.values())}
    )
