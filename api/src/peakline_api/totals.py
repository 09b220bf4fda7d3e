"""Energy and emissions totals per site over any range, read from the roll-ups.

A range is cut into the coarsest stored rows that tile it exactly: whole UTC days from
`energy_1d`, whole hours from `energy_1h`, and the minutes at either end from the 1-minute
`energy` rows (summed over the site's devices); location-based Scope 2 likewise from
`emissions_1d` and hourly `emissions`, the minutes at the ends at their hour's factor. So a
year's report reads a few hundred daily rows per site, not half a million minutes, and
equals the sum of the 1-minute rows.

Market-based Scope 2 is computed here, not stored: a site's contractual instruments of a
year are used up by its imports in time order from 1 January (GHG Protocol Scope 2
Guidance), so the market figure of a range depends on the imports before it. For each UTC
year the range touches: imports from 1 January to the range's start, then within the range,
through the core's `scope2_market` with the site's instruments and residual mix.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from peakline_core.config.platform import Site
from peakline_core.emissions import EmissionsError, FactorBook, InstrumentBlock, scope2_market
from peakline_core.storage import Aggregate, SeriesQuery, Store
from peakline_core.storage.schema import (
    EMISSIONS,
    EMISSIONS_1D,
    ENERGY,
    ENERGY_1D,
    ENERGY_1H,
)

NS = 1_000_000_000
HOUR = 3600 * NS
DAY = 86400 * NS


def tiles(start: int, end: int) -> list[tuple[str, int, int]]:
    """(resolution, lo, hi) pieces tiling [start, end): "1m", "1h" and "1d"."""
    if end <= start:
        return []
    h0 = -(-start // HOUR) * HOUR
    h1 = end // HOUR * HOUR
    if h0 >= h1:
        return [("1m", start, end)]
    out = [("1m", start, h0)] if start < h0 else []
    d0 = -(-h0 // DAY) * DAY
    d1 = h1 // DAY * DAY
    if d0 < d1:
        if h0 < d0:
            out.append(("1h", h0, d0))
        out.append(("1d", d0, d1))
        if d1 < h1:
            out.append(("1h", d1, h1))
    else:
        out.append(("1h", h0, h1))
    if h1 < end:
        out.append(("1m", h1, end))
    return out


_ENERGY = {"1m": ENERGY, "1h": ENERGY_1H, "1d": ENERGY_1D}


@dataclass(slots=True)
class SiteTotals:
    """One site's totals over a range: kWh by flow, how much of it was estimated, what was
    seen but not believed, and location-/market-based Scope 2 (kgCO2e)."""

    energy_kwh: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    estimated_kwh: float = 0.0
    suspect_kwh: float = 0.0
    location_kg: float | None = None
    market_kg: float | None = None


async def _sum(
    store: Store, measurement: str, fld: str, sites: Sequence[str], lo: int, hi: int
) -> list[tuple[dict[str, str], float]]:
    answer = await store.query(
        SeriesQuery(
            measurement,
            fld,
            lo,
            hi,
            where={"site": list(sites)},
            every_ns=max(hi - lo, NS),
            aggregate=Aggregate.SUM,
        )
    )
    return [
        (dict(s.tags), float(sum(v for v in s.values if isinstance(v, int | float))))
        for s in answer
    ]


async def energy_by_flow(
    store: Store, sites: Sequence[str], start: int, end: int, fld: str = "kwh"
) -> dict[tuple[str, str], float]:
    """(site, flow) -> sum of `fld` (kwh, estimated_kwh, suspect_kwh) over [start, end)."""
    out: dict[tuple[str, str], float] = defaultdict(float)
    if not sites:
        return out
    parts = await asyncio.gather(
        *(_sum(store, _ENERGY[res], fld, sites, lo, hi) for res, lo, hi in tiles(start, end))
    )
    for part in parts:
        for tags, v in part:
            out[(tags.get("site", ""), tags.get("flow", ""))] += v
    return out


async def location_kg(store: Store, sites: Sequence[str], start: int, end: int) -> dict[str, float]:
    """site -> location-based Scope 2 kgCO2e over [start, end)."""
    out: dict[str, float] = defaultdict(float)
    if not sites:
        return out
    for res, lo, hi in tiles(start, end):
        if res == "1m":
            for site, kg in (await _minutes_kg(store, sites, lo, hi)).items():
                out[site] += kg
            continue
        measurement = EMISSIONS if res == "1h" else EMISSIONS_1D
        for tags, v in await _sum(store, measurement, "kgco2e", sites, lo, hi):
            if tags.get("method", "location") == "location":
                out[tags.get("site", "")] += v
    return out


async def _minutes_kg(store: Store, sites: Sequence[str], lo: int, hi: int) -> dict[str, float]:
    """Partial hours: their minutes' import, each hour at that hour's stored factor."""
    where = {"site": list(sites)}
    first, last = lo - lo % HOUR, -(-hi // HOUR) * HOUR
    factors, energy = await asyncio.gather(
        store.query(SeriesQuery(EMISSIONS, "kg_per_kwh", first, last, where)),
        store.query(
            SeriesQuery(
                ENERGY,
                "kwh",
                lo,
                hi,
                {**where, "flow": ["import"]},
                every_ns=HOUR,
                aggregate=Aggregate.SUM,
            )
        ),
    )
    factor = {
        (s.tags.get("site", ""), int(t)): float(v)
        for s in factors
        for t, v in zip(s.times, s.values, strict=True)
        if isinstance(v, int | float)
    }
    out: dict[str, float] = defaultdict(float)
    for s in energy:
        site = s.tags.get("site", "")
        for t, kwh in zip(s.times, s.values, strict=True):
            f = factor.get((site, int(t) - int(t) % HOUR))
            if f is not None and isinstance(kwh, int | float):
                out[site] += float(kwh) * f
    return out


def _year_start(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) * NS


async def market_kg(
    store: Store, sites: Sequence[Site], book: FactorBook | None, start: int, end: int
) -> dict[str, float]:
    """site -> market-based Scope 2 kgCO2e over [start, end) (see the module docstring)."""
    out: dict[str, float] = defaultdict(float)
    if book is None or not sites or end <= start:
        return out
    ids = [s.id for s in sites]
    first = datetime.fromtimestamp(start / NS, tz=UTC).year
    last = datetime.fromtimestamp((end - 1) / NS, tz=UTC).year
    for year in range(first, last + 1):
        y0, y1 = _year_start(year), _year_start(year + 1)
        lo, hi = max(start, y0), min(end, y1)
        before, within = await asyncio.gather(
            energy_by_flow(store, ids, y0, lo), energy_by_flow(store, ids, lo, hi)
        )
        for site in sites:
            imp = within.get((site.id, "import"), 0.0)
            try:
                residual = (
                    site.market.residual_mix_kg_per_kwh
                    if site.market and site.market.residual_mix_kg_per_kwh is not None
                    else book.residual_mix(site.grid_region, year)
                )
            except EmissionsError:
                continue
            block = InstrumentBlock.from_markets([site.market], year) if site.market else None
            if block is None or block.kwh.size == 0:
                out[site.id] += imp * residual
                continue
            result = scope2_market(
                np.array([[before.get((site.id, "import"), 0.0), imp]]), block, residual
            )
            out[site.id] += float(result.kg[0, 1])
    return out


async def site_totals(
    store: Store, sites: Sequence[Site], book: FactorBook | None, start: int, end: int
) -> dict[str, SiteTotals]:
    """Every site's `SiteTotals` over [start, end)."""
    ids = [s.id for s in sites]
    kwh, est, sus, loc, mkt = await asyncio.gather(
        energy_by_flow(store, ids, start, end),
        energy_by_flow(store, ids, start, end, "estimated_kwh"),
        energy_by_flow(store, ids, start, end, "suspect_kwh"),
        location_kg(store, ids, start, end),
        market_kg(store, sites, book, start, end),
    )
    out = {s.id: SiteTotals() for s in sites}
    for (site, flow), v in kwh.items():
        if site in out:
            out[site].energy_kwh[flow] += v
    for (site, _), v in est.items():
        if site in out:
            out[site].estimated_kwh += v
    for (site, _), v in sus.items():
        if site in out:
            out[site].suspect_kwh += v
    for site, v in loc.items():
        if site in out:
            out[site].location_kg = v
    for site, v in mkt.items():
        if site in out and out[site].energy_kwh:
            out[site].market_kg = v
    return out
