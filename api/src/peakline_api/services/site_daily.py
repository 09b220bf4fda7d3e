"""One site's last N UTC days: grid import, how much of it was estimated or not believed, and
Scope 2 location- and market-based per day, for the site page's daily bars.

Days are UTC days, as the deriver's daily roll-ups are (`energy_1d`, `emissions_1d`); the last
is today so far. Market-based Scope 2 of a day is the site's instruments used up by its
imports in time order from 1 January (as `totals.py` does for any range): the day's imports
priced after the imports of the year before it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import numpy as np
from pydantic import BaseModel, Field

from peakline_api.access import Access
from peakline_api.state import AppState
from peakline_api.timespec import NS, iso
from peakline_api.totals import energy_by_flow, market_kg
from peakline_core.config import Site
from peakline_core.storage import Series, SeriesQuery
from peakline_core.storage.schema import EMISSIONS_1D, ENERGY_1D

DAY_NS = 86_400 * NS
FLOW = "import"


class SiteDays(BaseModel):
    site: str
    start: str
    end: str
    t_ms: list[int] = Field(description="start of each UTC day; the last is today so far")
    import_kwh: list[float | None] = Field(description="None: no energy row that day")
    estimated_kwh: list[float | None]
    suspect_kwh: list[float | None] = Field(description="seen but not believed, not counted")
    location_kgco2e: list[float | None]
    market_kgco2e: list[float | None] = Field(description="None where no factor applies")


def _year_start(ns: int) -> int:
    year = datetime.fromtimestamp(ns / NS, tz=UTC).year
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) * NS


def _per_day(series: list[Series], start: int, days: int) -> np.ndarray:
    out = np.full(days, np.nan)
    for s in series:
        for t, v in zip(s.times, s.values, strict=True):
            d = (int(t) - start) // DAY_NS
            if 0 <= d < days and isinstance(v, int | float):
                out[d] = (0.0 if np.isnan(out[d]) else out[d]) + float(v)
    return out


def _listed(a: np.ndarray) -> list[float | None]:
    return [None if np.isnan(v) else float(v) for v in a]


async def site_days(caller: Access, state: AppState, found: Site, days: int) -> SiteDays:
    """The site's last `days` UTC days (the last is today so far), as the module says."""
    site = found.id
    now = state.clock_ns()
    end = now - now % DAY_NS + DAY_NS
    start = end - days * DAY_NS
    where = {"site": [site], "flow": [FLOW]}
    fields = ("kwh", "estimated_kwh", "suspect_kwh")
    energy = await asyncio.gather(
        *(state.store.query(SeriesQuery(ENERGY_1D, f, start, end, where=where)) for f in fields),
        state.store.query(
            SeriesQuery(
                EMISSIONS_1D,
                "kgco2e",
                start,
                end,
                where={"site": [site], "method": ["location"]},
            )
        ),
    )
    kwh, estimated, suspect, location = (_per_day(s, start, days) for s in energy)
    # Imports of the year before the window's first day (the later years start on 1 January).
    first_year = _year_start(start)
    before = (await energy_by_flow(state.store, [site], first_year, start))[(site, FLOW)]
    book = caller.registry.config.factor_book()
    market = np.full(days, np.nan)
    used = before
    for d in range(days):
        day_start = start + d * DAY_NS
        if day_start == _year_start(day_start) and day_start != first_year:
            used = 0.0  # a new year's instruments
        if np.isnan(kwh[d]):
            continue
        year = datetime.fromtimestamp(day_start / NS, tz=UTC).year
        kg = market_kg(found, book, year, used, float(kwh[d]))
        market[d] = np.nan if kg is None else kg
        used += float(kwh[d])
    return SiteDays(
        site=site,
        start=iso(start),
        end=iso(end),
        t_ms=[(start + d * DAY_NS) // 1_000_000 for d in range(days)],
        import_kwh=_listed(kwh),
        estimated_kwh=_listed(estimated),
        suspect_kwh=_listed(suspect),
        location_kgco2e=_listed(location),
        market_kgco2e=_listed(market),
    )
