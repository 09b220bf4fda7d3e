"""One site's last N local days (the site's `timezone`): grid import, how much of it was
estimated or not believed, and Scope 2 location- and market-based per day, for the site page's
daily bars.

A day runs from local midnight to local midnight, so a Shanghai site's days are the days its
staff and its utility bill count, and the last one (today so far) is the overview's "Energy
today". Each day is read like any range (`totals.py`: the coarsest stored rows that tile it,
priced per hour), so a 23- or 25-hour day around a DST change is whole. Market-based Scope 2
of a day is the site's instruments used up by its imports in time order from 1 January (local),
as `totals.py` does for any range: the day's imports priced after the imports of the year
before it.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, Field

from peakline_api.access import Access
from peakline_api.state import AppState
from peakline_api.timespec import NS, iso
from peakline_api.totals import energy_and_location, energy_by_flow, market_kg
from peakline_core.config import Site
from peakline_core.derive.calendar import HOUR
from peakline_core.storage import SeriesQuery
from peakline_core.storage.schema import EMISSIONS, ENERGY_1H

FLOW = "import"
FIELDS = ("kwh", "estimated_kwh", "suspect_kwh")


class SiteDays(BaseModel):
    site: str
    start: str
    end: str
    t_ms: list[int] = Field(description="start of each local day (UTC ms); the last is today")
    import_kwh: list[float | None] = Field(description="None: no energy row that day")
    estimated_kwh: list[float | None]
    suspect_kwh: list[float | None] = Field(description="seen but not believed, not counted")
    location_kgco2e: list[float | None]
    market_kgco2e: list[float | None] = Field(description="None where no factor applies")


def local_midnights(tz: ZoneInfo, now_ns: int, days: int) -> list[int]:
    """UTC ns of the local midnights that start each of the last `days` local days (the
    last is today) and of tomorrow's: `days` + 1 edges."""
    today = datetime.fromtimestamp(now_ns / NS, tz).date()
    first = today - timedelta(days=days - 1)
    return [_midnight(first + timedelta(days=d), tz) for d in range(days + 1)]


def _midnight(day: date, tz: ZoneInfo) -> int:
    return int(datetime.combine(day, time(), tz).timestamp()) * NS


def _listed(a: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in a]


async def _hourly(state: AppState, site: str, edges: list[int]) -> dict[str, np.ndarray]:
    """Per day between `edges` (whole hours apart), the sums of the site's hourly rows: one
    query per figure for all the days."""
    start, end = edges[0], edges[-1]
    flows = {"site": [site], "flow": [FLOW]}
    got = await asyncio.gather(
        *(state.store.query(SeriesQuery(ENERGY_1H, f, start, end, where=flows)) for f in FIELDS),
        state.store.query(SeriesQuery(EMISSIONS, "kgco2e", start, end,
                                      where={"site": [site], "method": ["location"]})),
    )  # fmt: skip
    bounds = np.asarray(edges, dtype=np.int64)
    out = {}
    for name, series in zip((*FIELDS, "location"), got, strict=True):
        sums = np.full(len(edges) - 1, np.nan)
        for s in series:
            for t, v in zip(s.times, s.values, strict=True):
                d = int(np.searchsorted(bounds, int(t), side="right")) - 1
                if 0 <= d < sums.size and isinstance(v, int | float):
                    sums[d] = (0.0 if np.isnan(sums[d]) else sums[d]) + float(v)
        out[name] = sums
    return out


async def site_days(
    caller: Access, state: AppState, found: Site, days: int, by_hour: bool = True
) -> SiteDays:
    """The site's last `days` local days (the last is today so far), as the module says;
    `by_hour=False` reads every day as a range (what a zone on half hours gets)."""
    site = found.id
    tz = ZoneInfo(found.timezone)
    edges = local_midnights(tz, state.clock_ns(), days)
    start, end = edges[0], edges[-1]
    table = {f: np.full(days, np.nan) for f in (*FIELDS, "location")}
    # Whole past days of a zone on whole hours (most) are sums of hourly rows, in a few queries;
    # today (read as the overview reads it: minutes in its open hour) and the days of a
    # zone on half hours are read range by range.
    hourly = by_hour and all(t % HOUR == 0 for t in edges) and days > 1
    ranges = (
        [(days - 1, edges[-2], end)]
        if hourly
        else [(d, lo, hi) for d, (lo, hi) in enumerate(itertools.pairwise(edges))]
    )
    if hourly:
        past = await _hourly(state, site, edges[:-1])
        for f, per_day in past.items():
            table[f][:-1] = per_day
    per_range = await asyncio.gather(
        *(energy_and_location(state.store, [site], lo, hi, FIELDS) for _, lo, hi in ranges)
    )
    for (d, _, _), (energy, kg) in zip(ranges, per_range, strict=True):
        sums = energy.get((site, FLOW))
        if sums is not None:
            for f in FIELDS:
                table[f][d] = sums[f]
        if site in kg:
            table["location"][d] = kg[site]
    kwh = table["kwh"]
    # Imports of the year before the window's first day (the later years start on 1 January).
    day_of = [datetime.fromtimestamp(t / NS, tz).date() for t in edges[:-1]]
    first_year = _midnight(date(day_of[0].year, 1, 1), tz)
    before = (await energy_by_flow(state.store, [site], first_year, start))[(site, FLOW)]
    book = caller.registry.config.factor_book()
    market = np.full(days, np.nan)
    used = before
    for d, day in enumerate(day_of):
        if (day.month, day.day) == (1, 1) and d > 0:
            used = 0.0  # a new year's instruments
        if np.isnan(kwh[d]):
            continue
        kg_market = market_kg(found, book, day.year, used, float(kwh[d]))
        market[d] = np.nan if kg_market is None else kg_market
        used += float(kwh[d])
    return SiteDays(
        site=site,
        start=iso(start),
        end=iso(end),
        t_ms=[t // 1_000_000 for t in edges[:-1]],
        import_kwh=_listed(kwh),
        estimated_kwh=_listed(table["estimated_kwh"]),
        suspect_kwh=_listed(table["suspect_kwh"]),
        location_kgco2e=_listed(table["location"]),
        market_kgco2e=_listed(market),
    )
