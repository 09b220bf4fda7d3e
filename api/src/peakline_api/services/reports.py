"""Energy and emissions reports per site, district or city, carbon intensity, the city overview
and the deriver's energy windows.

Reports are sums of what the deriver stored, read from its roll-ups (`totals.py`: energy by
flow, location-based Scope 2 by hour and day, market-based Scope 2 computed from the year's
imports), divided by the registry's floor areas, occupants and populations for intensity
metrics. Each row says how much of its energy was estimated and how much was seen but not
believed (suspect readings, not counted).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from peakline_api.access import Access
from peakline_api.errors import InvalidQuery, UnknownId
from peakline_api.models import SeriesOut, SeriesResponse
from peakline_api.params import MAX_BUCKETS, Filters, TimeRange, window_ns
from peakline_api.services.anomalies import anomaly_events
from peakline_api.state import AppState
from peakline_api.timespec import NS, auto_window, iso
from peakline_api.totals import energy_by_flow, location_kg, site_totals
from peakline_core.config import Site
from peakline_core.storage import Aggregate, SeriesQuery
from peakline_core.storage.schema import CARBON_INTENSITY, ENERGY, ENERGY_1D, ENERGY_1H, READING


class Intensity(BaseModel):
    kwh_per_m2: float | None
    kgco2e_per_m2: float | None = Field(description="location-based")
    kgco2e_per_occupant: float | None
    kgco2e_per_capita: float | None = Field(description="cities only")


class EnergyQuality(BaseModel):
    estimated_kwh: float = Field(
        description="part of energy_kwh whose timing was estimated (gaps, glitches skipped)"
    )
    suspect_kwh: float = Field(
        description="steps seen on meters but not believed (beyond the site's max demand):"
        " not counted in energy_kwh"
    )


class ReportRow(BaseModel):
    level: str
    id: str
    name: str
    sites: int
    energy_kwh: dict[str, float] = Field(description="by flow (import, export, pv, ...)")
    energy_quality: EnergyQuality
    emissions_kgco2e: dict[str, dict[str, float]] = Field(
        description="by method (location, market) then scope"
    )
    intensity: Intensity


class Report(BaseModel):
    start: str
    end: str
    level: str
    gwp: str = Field(
        description="the programme's 100-year GWP set (programme.yaml `gwp`) for CH4 and N2O"
        " in CO2e; rows stored before a change of set keep the set they were computed with"
    )
    items: list[ReportRow]


class IntensityNow(BaseModel):
    region: str
    g_per_kwh: float | None
    time: str | None


class SiteOverview(BaseModel):
    id: str
    name: str
    city: str
    city_name: str
    district: str
    district_name: str
    power_kw: float | None = Field(description="sum of the main meters' latest power, kW")
    power_time: str | None
    energy_today_kwh: float | None = Field(description="since local midnight, imported")
    emissions_today_kgco2e: float | None = Field(description="since local midnight, location-based")
    devices: int
    online: int
    open_anomalies: int
    carbon_intensity_g_per_kwh: float | None


class EnergyWindows(BaseModel):
    site: str
    device: str | None = Field(description="per device at 1m; roll-ups are per site")
    flow: str = Field(description="import, export, pv, fuel:<id>, heat:<network>")
    t_ms: list[int] = Field(description="window starts (UTC ms)")
    kwh: list[float] = Field(description="measured + estimated (a fuel flow: its own unit)")
    estimated_kwh: list[float]
    suspect_kwh: list[float] = Field(description="seen but not believed: not in kwh")
    quality: list[str] | None = Field(
        description="1m only: measured, estimated, suspect or imported"
    )


class EnergyResponse(BaseModel):
    start: str
    end: str
    resolution: Literal["1m", "1h", "1d"]
    series: list[EnergyWindows]


POWER_POINT = "power_total"
"""The point a site's main meters report net demand on (W)."""


MAIN_METER_KINDS = frozenset({"meter", "feeder"})


def report_sites(
    caller: Access,
    sites: Sequence[str],
    districts: Sequence[str],
    cities: Sequence[str],
    level: str,
) -> list[Site]:
    """Sites a report may cover: the caller's own, plus whole public cities for city reports."""
    if level == "city":
        wanted = [caller.city(c, report=True).id for c in cities] or [
            c.id for c in caller.registry.cities.values() if caller.may_report_city(c.id)
        ]
        if sites or districts:
            raise InvalidQuery("city reports filter by city only")
        return [s for s in caller.registry.sites.values() if s.city in wanted]
    return caller.sites_matching(sites, districts, cities)


def _local_midnight_ns(tz: str, now_ns: int) -> int:
    now = datetime.fromtimestamp(now_ns / NS, tz=ZoneInfo(tz))
    return int(now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()) * NS


_RESOLUTION = {"1m": ENERGY, "1h": ENERGY_1H, "1d": ENERGY_1D}


_STEP_NS = {"1m": 60 * NS, "1h": 3600 * NS, "1d": 86400 * NS}


async def emissions_report(
    caller: Access,
    state: AppState,
    f: Filters,
    tr: TimeRange,
    level: Literal["site", "district", "city"],
) -> Report:
    """Rows per site, district or city over the range (the endpoint says what they hold)."""
    sites = report_sites(caller, f.site, f.district, f.city, level)
    if level != "site":
        sites = [s for s in sites if s.in_totals]
    reg = caller.registry
    totals = await site_totals(state.store, sites, reg.config.factor_book(), tr.start_ns, tr.end_ns)
    group_of: Callable[[Site], str] = {
        "site": lambda s: s.id,
        "district": lambda s: s.district,
        "city": lambda s: s.city,
    }[level]
    rows: dict[str, dict[str, Any]] = {}
    for s in sites:
        row = rows.setdefault(
            group_of(s),
            {
                "sites": [],
                "energy": defaultdict(float),
                "estimated": 0.0,
                "suspect": 0.0,
                "emissions": defaultdict(lambda: defaultdict(float)),
            },
        )
        row["sites"].append(s)
        t = totals[s.id]
        for flow, kwh in t.energy_kwh.items():
            row["energy"][flow] += kwh
        row["estimated"] += t.estimated_kwh
        row["suspect"] += t.suspect_kwh
        if t.location_kg is not None:
            row["emissions"]["location"]["2"] += t.location_kg
        if t.market_kg is not None:
            row["emissions"]["market"]["2"] += t.market_kg
    items: list[ReportRow] = []
    for gid, row in rows.items():
        area = sum(s.floor_area_m2 for s in row["sites"])
        occupants = sum(s.occupants for s in row["sites"])
        location = sum(row["emissions"].get("location", {}).values())
        imported = row["energy"].get("import", sum(row["energy"].values()))
        population = reg.cities[gid].population if level == "city" else None
        names: dict[str, Any] = {"site": reg.sites, "district": reg.districts, "city": reg.cities}
        name = names[level][gid].name
        items.append(
            ReportRow(
                level=level,
                id=gid,
                name=name,
                sites=len(row["sites"]),
                energy_kwh=dict(row["energy"]),
                energy_quality=EnergyQuality(
                    estimated_kwh=row["estimated"],
                    suspect_kwh=row["suspect"],
                ),
                emissions_kgco2e={m: dict(v) for m, v in row["emissions"].items()},
                intensity=Intensity(
                    kwh_per_m2=imported / area if area else None,
                    kgco2e_per_m2=location / area if area else None,
                    kgco2e_per_occupant=location / occupants if occupants else None,
                    kgco2e_per_capita=location / population if population else None,
                ),
            )
        )
    items.sort(key=lambda r: r.id)
    return Report(
        start=iso(tr.start_ns),
        end=iso(tr.end_ns),
        level=level,
        gwp=reg.config.programme.gwp,
        items=items,
    )


async def carbon_intensity(caller: Access, state: AppState, f: Filters) -> list[IntensityNow]:
    """The intensity in force in each grid region of the matching sites."""
    regions = caller.regions(caller.sites_matching(f.site, f.district, f.city))
    if not regions:
        return []
    latest = await state.latest.latest(CARBON_INTENSITY, "g_per_kwh", {"region": regions})
    found = {s.tags.get("region"): s for s in latest if s.times}
    return [
        IntensityNow(
            region=r,
            g_per_kwh=found[r].values[-1] if r in found else None,
            time=iso(found[r].times[-1]) if r in found else None,
        )
        for r in regions
    ]


async def overview(caller: Access, state: AppState, f: Filters) -> list[SiteOverview]:
    """Every matching site: power now, today's energy and emissions, status, open anomalies."""
    reg = caller.registry
    sites = caller.sites_matching(f.site, f.district, f.city)
    if not sites:
        return []
    ids = [s.id for s in sites]
    now = state.clock_ns()
    meters = [
        d.id
        for s in sites
        for d in reg.devices_of_site(s.id)
        if d.enabled
        and reg.config.profile_of(d).kind in MAIN_METER_KINDS
        and POWER_POINT in reg.points[d.id]
    ]
    midnight = {s.id: _local_midnight_ns(s.timezone, now) for s in sites}
    power_q = (
        state.latest.latest(
            READING, "value", {"site": ids, "device": meters, "point": [POWER_POINT]}
        )
        if meters
        else asyncio.sleep(0, [])
    )
    by_midnight: dict[int, list[str]] = defaultdict(list)
    for sid, t in midnight.items():
        by_midnight[t].append(sid)
    power, ci, energy_parts, kg_parts = await asyncio.gather(
        power_q,
        state.latest.latest(CARBON_INTENSITY, "g_per_kwh", {"region": caller.regions(sites)}),
        asyncio.gather(
            *(energy_by_flow(state.store, group, t, now) for t, group in by_midnight.items())
        ),
        asyncio.gather(
            *(location_kg(state.store, group, t, now) for t, group in by_midnight.items())
        ),
    )
    events = await anomaly_events(caller, state, f, now - 30 * 86400 * NS, now)
    power_kw: dict[str, float] = defaultdict(float)
    power_t: dict[str, int] = {}
    for series in power:
        site = series.tags.get("site", "")
        last = series.values[-1] if series.values else None
        if isinstance(last, int | float) and series.tags.get("device") in meters:
            power_kw[site] += float(last) / 1000
            power_t[site] = max(power_t.get(site, 0), series.times[-1])
    energy_today: dict[str, float] = {}
    emis_today: dict[str, float] = {}
    for part in energy_parts:
        for (site, flow), kwh in part.items():
            if flow == "import":
                energy_today[site] = energy_today.get(site, 0.0) + kwh
    for kg_part in kg_parts:
        emis_today.update(kg_part)
    intensity = {c.tags.get("region"): c.values[-1] for c in ci if c.values}
    open_by_site: dict[str, int] = defaultdict(int)
    for e in events:
        if e.event.state == "open" and e.event.cause is None:  # a command's effect: no alarm
            open_by_site[e.event.site] += 1
    out: list[SiteOverview] = []
    for s in sites:
        devices = [d for d in reg.devices_of_site(s.id) if d.enabled]
        out.append(
            SiteOverview(
                id=s.id,
                name=s.name,
                city=s.city,
                city_name=reg.cities[s.city].name,
                district=s.district,
                district_name=reg.districts[s.district].name,
                power_kw=power_kw.get(s.id),
                power_time=iso(power_t[s.id]) if s.id in power_t else None,
                energy_today_kwh=energy_today.get(s.id),
                emissions_today_kgco2e=emis_today.get(s.id),
                devices=len(devices),
                online=sum(1 for d in devices if state.hub.device(s.id, d.id).state == "online"),
                open_anomalies=open_by_site.get(s.id, 0),
                carbon_intensity_g_per_kwh=intensity.get(s.grid_region),
            )
        )
    return out


async def carbon_intensity_series(
    caller: Access,
    state: AppState,
    tr: TimeRange,
    region: list[str],
    window: str | None,
    agg: Aggregate,
) -> SeriesResponse:
    """One series per region of the caller's sites (regions outside them are 404)."""
    known = caller.regions(caller.visible_sites())
    for r in region:
        if r not in known:
            raise UnknownId(f"no grid region {r[:64]!r}")
    regions = region or known
    every_ns = None
    if window:
        every_ns = window_ns(window, tr)
    else:
        chosen = auto_window(tr.start_ns, tr.end_ns, state.settings.max_points_per_series, 300 * NS)
        if chosen:
            window, every_ns = chosen
    series = (
        await state.store.query(
            SeriesQuery(
                CARBON_INTENSITY,
                "g_per_kwh",
                tr.start_ns,
                tr.end_ns,
                where={"region": regions},
                every_ns=every_ns,
                aggregate=agg,
            )
        )
        if regions
        else []
    )
    return SeriesResponse(
        start=iso(tr.start_ns),
        end=iso(tr.end_ns),
        window=window,
        aggregate=agg.value if window else None,
        downsampled=window is not None,
        series=[
            SeriesOut(
                site="",
                device="",
                point=s.tags.get("region", ""),
                unit="gCO2e/kWh",
                t_ms=[t // 1_000_000 for t in s.times],
                values=list(s.values),
            )
            for s in series
            if s.tags.get("region") in regions
        ],
    )


async def energy_windows(
    caller: Access,
    state: AppState,
    f: Filters,
    tr: TimeRange,
    resolution: Literal["1m", "1h", "1d"],
    flow: list[str],
) -> EnergyResponse:
    """The deriver's energy rows per site, device and flow, as stored."""
    sites = caller.sites_matching(f.site, f.district, f.city)
    if (tr.end_ns - tr.start_ns) // _STEP_NS[resolution] * max(len(sites), 1) > MAX_BUCKETS * 10:
        raise InvalidQuery(
            f"more than {MAX_BUCKETS * 10} windows in all: narrow the range or the sites,"
            " or use a coarser resolution",
            param="resolution",
        )
    out: list[EnergyWindows] = []
    if not sites:
        return EnergyResponse(
            start=iso(tr.start_ns), end=iso(tr.end_ns), resolution=resolution, series=out
        )
    where: dict[str, list[str]] = {"site": [s.id for s in sites]}
    if flow:
        where["flow"] = list(flow)
    fields = ["kwh", "estimated_kwh", "suspect_kwh"] + (["quality"] if resolution == "1m" else [])
    answers = await asyncio.gather(
        *(
            state.store.query(
                SeriesQuery(_RESOLUTION[resolution], fld, tr.start_ns, tr.end_ns, where=where)
            )
            for fld in fields
        )
    )
    by_key: dict[tuple[str, str, str], dict[str, dict[int, Any]]] = defaultdict(dict)
    for fld, answer in zip(fields, answers, strict=True):
        for s in answer:
            key = (s.tags.get("site", ""), s.tags.get("device", ""), s.tags.get("flow", ""))
            by_key[key][fld] = dict(zip(s.times, s.values, strict=True))
    for (site, device, fl), cols in sorted(by_key.items()):
        times = sorted(cols.get("kwh", {}))
        out.append(
            EnergyWindows(
                site=site,
                device=device or None,
                flow=fl,
                t_ms=[t // 1_000_000 for t in times],
                kwh=[float(cols["kwh"][t]) for t in times],
                estimated_kwh=[float(cols.get("estimated_kwh", {}).get(t, 0.0)) for t in times],
                suspect_kwh=[float(cols.get("suspect_kwh", {}).get(t, 0.0)) for t in times],
                quality=[str(cols.get("quality", {}).get(t, "")) for t in times]
                if resolution == "1m"
                else None,
            )
        )
    return EnergyResponse(
        start=iso(tr.start_ns), end=iso(tr.end_ns), resolution=resolution, series=out
    )
