"""Per city: "are we on track?" for the overview's city cards.

A city's target is a cap on its whole inventory; the platform meters a handful of its
buildings. Comparing the two would call any city "on track", so the verdict compares like
with like, on complete UTC days of the current month (the previous month on the 1st):

1. **Year on year**: the city's sites with location-based emissions on every day of the
   period this year and on the same dates last year (metered from the period's first hour:
   a day metering began late in is incomplete); on track when this year's sum is at most
   last year's times the city path's ratio `cap(year) / cap(year - 1)` (e.g. 0.97 past the
   peak at 3 % a year).
2. Failing that, **site targets**: the sites with their own cap and data on every day of the
   period; on track when their sum is at most their caps' pro-rata share of the year (days /
   days in the year; a season makes this approximate, and `basis` says so).
3. Otherwise no verdict, and `reason` says why (`no_data`, `no_target`, `no_baseline`).

Grid assets (a feeder's meter measures what it supplies, metered sites included) are left out
of the sums (`Site.in_totals`); their devices count in "devices offline".

The chart is the verdict's group: its cumulative emissions per day against the cumulative
allowance. Emissions are the deriver's `emissions_1d` rows (Scope 2, location-based), the
same rows the inventory sums.
"""

from __future__ import annotations

import asyncio
from calendar import isleap
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import BaseModel, Field

from peakline_api.access import Access
from peakline_api.params import Filters
from peakline_api.services.anomalies import anomaly_events
from peakline_api.state import AppState
from peakline_api.timespec import NS, iso
from peakline_core.config import City, Site
from peakline_core.storage import Series, SeriesQuery, Store
from peakline_core.storage.schema import EMISSIONS_1D, ENERGY_1H

if TYPE_CHECKING:
    from peakline_api.alerts.service import Alerts

DAY_NS = 86_400 * NS
HOUR_NS = 3_600 * NS
TOP_SITES = 3

Basis = Literal["year_on_year", "site_targets"]
Reason = Literal["no_data", "no_target", "no_baseline"]


class TopSite(BaseModel):
    site: str
    name: str
    kgco2e: float
    share: float = Field(description="of the city's metered emissions over the period")


class Chart(BaseModel):
    t_ms: list[int] = Field(description="start of each day (UTC)")
    actual_kgco2e: list[float] = Field(description="cumulative, the verdict's sites")
    allowed_kgco2e: list[float] | None = Field(description="cumulative allowance")
    last_year_kgco2e: list[float] | None = Field(description="cumulative, same dates last year")


class CityStatus(BaseModel):
    id: str
    name: str
    period_start: str
    period_end: str
    days: int
    emissions_kgco2e: float | None = Field(description="all metered sites, location-based")
    sites_with_data: int
    sites: int
    kgco2e_per_m2: float | None = Field(description="metered sites with data, their floor area")
    kgco2e_per_capita: float | None = Field(description="metered sites only: partial coverage")
    on_track: bool | None
    basis: Basis | None
    reason: Reason | None = Field(description="why there is no verdict")
    compared_sites: list[str]
    change: float | None = Field(description="year on year: this / last year - 1")
    required_change: float | None = Field(description="year on year: cap ratio - 1")
    top_sites: list[TopSite]
    open_anomalies: int
    open_incidents: int | None = Field(description="None when alerts are off")
    devices: int
    devices_offline: int
    chart: Chart


@dataclass(frozen=True, slots=True)
class Period:
    """Complete UTC days [start, end) of one month, and the same dates a year earlier."""

    start: date
    days: int

    @property
    def start_ns(self) -> int:
        return _ns(self.start)

    @property
    def end_ns(self) -> int:
        return self.start_ns + self.days * DAY_NS

    def last_year(self) -> Period:
        """The same dates a year earlier (a period from 29 February starts on the 28th)."""
        s = self.start
        day = 28 if (s.month, s.day) == (2, 29) else s.day
        return Period(s.replace(year=s.year - 1, day=day), self.days)


def _ns(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) * NS


def period_at(now_ns: int) -> Period:
    """The current month's complete days; on the 1st (none yet), the whole previous month."""
    today = datetime.fromtimestamp(now_ns / NS, tz=UTC).date()
    if today.day > 1:
        return Period(today.replace(day=1), today.day - 1)
    last = today - timedelta(days=1)
    return Period(last.replace(day=1), last.day)


def daily_matrix(series: Sequence[Series], sites: Sequence[str], p: Period) -> np.ndarray:
    """[site, day] kgCO2e from `emissions_1d` series; NaN where a day has no row."""
    out = np.full((len(sites), p.days), np.nan)
    row = {s: i for i, s in enumerate(sites)}
    for s in series:
        i = row.get(s.tags.get("site", ""))
        if i is None:
            continue
        for t, v in zip(s.times, s.values, strict=True):
            d = (int(t) - p.start_ns) // DAY_NS
            if 0 <= d < p.days and isinstance(v, int | float):
                out[i, d] = (0.0 if np.isnan(out[i, d]) else out[i, d]) + float(v)
    return out


@dataclass(frozen=True, slots=True)
class Verdict:
    basis: Basis | None
    reason: Reason | None
    sites: list[str]
    actual: np.ndarray  # cumulative kgCO2e per day of the verdict's group (all sites if none)
    allowed: np.ndarray | None  # cumulative allowance per day
    last_year: np.ndarray | None  # cumulative, year on year only
    ratio: float | None  # cap(year) / cap(year - 1), year on year only

    @property
    def on_track(self) -> bool | None:
        if self.allowed is None or not self.actual.size:
            return None
        return bool(self.actual[-1] <= self.allowed[-1])


@dataclass(frozen=True, slots=True)
class Daily:
    """[site, day] kgCO2e (NaN: no row) and, per site, whether it was metered from the
    period's first hour (else its first day's row is partial)."""

    kg: np.ndarray
    from_start: np.ndarray

    @property
    def complete(self) -> np.ndarray:
        if not self.kg.size:
            return np.zeros(self.kg.shape[0], bool)
        out: np.ndarray = ~np.isnan(self.kg).any(axis=1) & self.from_start
        return out


def judge(city: City, sites: Sequence[Site], this: Daily, last: Daily, p: Period) -> Verdict:
    """The rules of the module docstring over this year's and last year's daily rows."""
    ids = [s.id for s in sites]
    now = this.kg
    total = np.cumsum(np.nansum(now, axis=0)) if now.size else np.zeros(p.days)
    year = p.start.year
    if not (~np.isnan(now)).any():
        return Verdict(None, "no_data", [], total, None, None, None)
    complete = this.complete
    before = last.kg
    both = complete & last.complete
    if city.target is not None and both.any():
        ratio = city.target.cap(year) / city.target.cap(year - 1)
        path = np.cumsum(before[both].sum(axis=0))
        return Verdict(
            "year_on_year",
            None,
            [i for i, ok in zip(ids, both, strict=True) if ok],
            np.cumsum(now[both].sum(axis=0)),
            path * ratio,
            path,
            ratio,
        )
    targeted = np.array([s.target is not None for s in sites]) & complete
    if targeted.any():
        days_in_year = 366 if isleap(year) else 365
        daily_cap = sum(
            s.target.cap(year) / days_in_year
            for s, ok in zip(sites, targeted, strict=True)
            if ok and s.target is not None
        )
        return Verdict(
            "site_targets",
            None,
            [i for i, ok in zip(ids, targeted, strict=True) if ok],
            np.cumsum(now[targeted].sum(axis=0)),
            daily_cap * np.arange(1, p.days + 1),
            None,
            None,
        )
    reason: Reason = "no_target" if city.target is None else "no_baseline"
    return Verdict(None, reason, [], total, None, None, None)


async def daily_rows(store: Store, ids: list[str], p: Period) -> Daily:
    """The sites' daily rows, and whether their grid import was metered in the period's first
    hour: a roll-up row of a day metering started late in is there but is not a whole day."""
    if not ids:
        return Daily(np.zeros((0, p.days)), np.zeros(0, bool))
    where = {"site": ids}
    got, first_hour = await asyncio.gather(
        store.query(
            SeriesQuery(
                EMISSIONS_1D,
                "kgco2e",
                p.start_ns,
                p.end_ns,
                where={**where, "method": ["location"]},
            )
        ),
        store.query(
            SeriesQuery(
                ENERGY_1H,
                "kwh",
                p.start_ns,
                p.start_ns + HOUR_NS,
                where={**where, "flow": ["import"]},
            )
        ),
    )
    started = {s.tags.get("site") for s in first_hour if s.times}
    return Daily(daily_matrix(got, ids, p), np.array([i in started for i in ids], bool))


async def _city(
    caller: Access,
    state: AppState,
    city: City,
    sites: list[Site],
    p: Period,
    open_by_site: dict[str, int],
    alerts: Alerts | None,
) -> CityStatus:
    every_site = sites
    sites = [s for s in sites if s.in_totals]  # a feeder supplies sites metered themselves
    ids = [s.id for s in sites]
    this, last = await asyncio.gather(
        daily_rows(state.store, ids, p), daily_rows(state.store, ids, p.last_year())
    )
    v = judge(city, sites, this, last, p)
    now = this.kg
    per_site = np.nansum(now, axis=1) if now.size else np.zeros(len(ids))
    has = (~np.isnan(now)).any(axis=1) if now.size else np.zeros(len(ids), bool)
    total = float(per_site[has].sum()) if has.any() else None
    area = sum(s.floor_area_m2 for s, ok in zip(sites, has, strict=True) if ok)
    top = sorted(
        (i for i in range(len(ids)) if has[i] and per_site[i] > 0), key=lambda i: -per_site[i]
    )[:TOP_SITES]
    devices = [d for s in every_site for d in caller.registry.devices_of_site(s.id) if d.enabled]
    offline = sum(state.hub.device(d.site, d.id).state != "online" for d in devices)
    incidents = (
        len(alerts.db.search([city.id], state="open", limit=1000)) if alerts is not None else None
    )
    change = None
    if v.last_year is not None and v.last_year[-1] > 0:
        change = float(v.actual[-1] / v.last_year[-1] - 1)
    return CityStatus(
        id=city.id,
        name=city.name,
        period_start=iso(p.start_ns),
        period_end=iso(p.end_ns),
        days=p.days,
        emissions_kgco2e=total,
        sites_with_data=int(has.sum()),
        sites=len(ids),
        kgco2e_per_m2=total / area if total is not None and area else None,
        kgco2e_per_capita=total / city.population
        if total is not None and city.population
        else None,
        on_track=v.on_track,
        basis=v.basis,
        reason=v.reason,
        compared_sites=v.sites,
        change=change,
        required_change=v.ratio - 1 if v.ratio is not None else None,
        top_sites=[
            TopSite(
                site=ids[i],
                name=sites[i].name,
                kgco2e=float(per_site[i]),
                share=float(per_site[i] / total) if total else 0.0,
            )
            for i in top
        ],
        open_anomalies=sum(open_by_site.get(s.id, 0) for s in every_site),
        open_incidents=incidents,
        devices=len(devices),
        devices_offline=int(offline),
        chart=Chart(
            t_ms=[(p.start_ns + d * DAY_NS) // 1_000_000 for d in range(p.days)],
            actual_kgco2e=[float(x) for x in v.actual],
            allowed_kgco2e=None if v.allowed is None else [float(x) for x in v.allowed],
            last_year_kgco2e=None if v.last_year is None else [float(x) for x in v.last_year],
        ),
    )


async def city_statuses(caller: Access, state: AppState) -> list[CityStatus]:
    """Every city the caller sees, judged by the rules of the module docstring."""
    now_ns = state.clock_ns()
    p = period_at(now_ns)
    cities = caller.visible_cities()
    out: list[CityStatus] = []
    events = await anomaly_events(
        caller, state, Filters([], [], [], [], []), now_ns - 30 * DAY_NS, now_ns
    )
    open_by_site: dict[str, int] = defaultdict(int)
    for e in events:
        if e.event.state == "open" and e.event.cause is None:  # a command's effect: no alarm
            open_by_site[e.event.site] += 1
    alerts = state.alerts
    for city in cities:
        sites = [s for s in caller.registry.sites.values() if s.city == city.id]
        out.append(await _city(caller, state, city, sites, p, open_by_site, alerts))
    return out
