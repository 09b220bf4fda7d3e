"""Energy and emissions totals per site over any range, read from the roll-ups.

A range is cut into the coarsest stored rows that tile it exactly (`calendar.signed_tiles`):
whole calendar months from `energy_1mo`, whole UTC days from `energy_1d`, whole hours from
`energy_1h`, and the minutes at either end from the 1-minute `energy` rows (summed over the
site's devices); location-based Scope 2 likewise from `emissions_1mo`, `emissions_1d` and
hourly `emissions`, the minutes at the ends at their hour's factor. A leading piece may be
read as the coarser row holding it minus what lies before the range (December's row minus
its first 3 days, not 28 daily rows). So a year's report reads a dozen monthly and a few
daily rows per site, not half a million minutes, and equals the sum of the 1-minute rows.

Market-based Scope 2 is computed here, not stored: a site's contractual instruments of a
year are used up by its imports in time order from 1 January (GHG Protocol Scope 2
Guidance), so the market figure of a range depends on the imports before it. For each UTC
year the range touches: imports from 1 January to the range's start, then within the range,
through the core's `scope2_market` with the site's instruments and residual mix.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from peakline_core.config.platform import Site
from peakline_core.derive.calendar import HOUR, signed_tiles
from peakline_core.emissions import EmissionsError, FactorBook, InstrumentBlock, scope2_market
from peakline_core.storage import SeriesQuery, Store, TotalsQuery
from peakline_core.storage.schema import (
    EMISSIONS,
    EMISSIONS_1D,
    EMISSIONS_1MO,
    ENERGY,
    ENERGY_1D,
    ENERGY_1H,
    ENERGY_1MO,
)

NS = 1_000_000_000


_ENERGY = {"1m": ENERGY, "1h": ENERGY_1H, "1d": ENERGY_1D, "1mo": ENERGY_1MO}
_EMISSIONS = {"1h": EMISSIONS, "1d": EMISSIONS_1D, "1mo": EMISSIONS_1MO}


@dataclass(slots=True)
class SiteTotals:
    """One site's totals over a range: kWh by flow, how much of it was estimated, what was
    seen but not believed, and location-/market-based Scope 2 (kgCO2e)."""

    energy_kwh: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    estimated_kwh: float = 0.0
    suspect_kwh: float = 0.0
    location_kg: float | None = None
    market_kg: float | None = None


ENERGY_FIELDS = ("kwh", "estimated_kwh", "suspect_kwh")


async def _read(
    store: Store,
    sites: Sequence[str],
    start: int,
    end: int,
    fields: tuple[str, ...],
    location: bool,
) -> tuple[dict[tuple[str, str], dict[str, float]], dict[str, float]]:
    """(site, flow) -> field -> sum, and (when `location`) site -> location-based kgCO2e,
    over [start, end): per tile one energy read and one emissions read; the minutes at a
    range's ends are priced at their hour's stored factor (`kg_per_kwh`)."""
    energy: dict[tuple[str, str], dict[str, float]] = defaultdict(
        lambda: dict.fromkeys(fields, 0.0)
    )
    kg: dict[str, float] = defaultdict(float)
    if not sites or end <= start:
        return energy, kg
    where = {"site": list(sites)}
    wanted = fields if "kwh" in fields or not location else (*fields, "kwh")

    async def tile(res: str, lo: int, hi: int, sign: int) -> None:
        reads: list[Awaitable[Any]] = [
            store.totals(TotalsQuery(_ENERGY[res], wanted, lo, hi, where))
        ]
        if location and res == "1m":
            hour = lo - lo % HOUR
            reads.append(
                store.query(SeriesQuery(EMISSIONS, "kg_per_kwh", hour, hour + HOUR, where))
            )
        elif location:
            reads.append(store.totals(TotalsQuery(_EMISSIONS[res], ("kgco2e",), lo, hi, where)))
        got = await asyncio.gather(*reads)
        imports: dict[str, float] = defaultdict(float)
        for t in got[0]:
            site, flow = t.tags.get("site", ""), t.tags.get("flow", "")
            acc = energy[(site, flow)]
            for f in fields:
                acc[f] += sign * t.sums.get(f, 0.0)
            if flow == "import":
                imports[site] += sign * t.sums.get("kwh", 0.0)
        if not location:
            return
        if res == "1m":
            for s in got[1]:
                if s.tags.get("method", "location") != "location":
                    continue
                factor = next((v for v in s.values if isinstance(v, int | float)), None)
                site = s.tags.get("site", "")
                if factor is not None and site in imports:
                    kg[site] += imports[site] * float(factor)
            return
        for t in got[1]:
            if t.tags.get("method", "location") == "location":
                kg[t.tags.get("site", "")] += sign * t.sums.get("kgco2e", 0.0)

    pieces = _by_hour(signed_tiles(start, end))
    await asyncio.gather(*(tile(res, lo, hi, sign) for res, lo, hi, sign in pieces))
    return energy, kg


def _by_hour(
    pieces: Sequence[tuple[str, int, int, int]],
) -> list[tuple[str, int, int, int]]:
    """Minute pieces cut at hour boundaries (a range holding no whole hour is one minute
    piece of up to two hours): each is then priced at one hour's factor."""
    out = []
    for res, lo, hi, sign in pieces:
        while res == "1m" and lo - lo % HOUR + HOUR < hi:
            out.append((res, lo, lo - lo % HOUR + HOUR, sign))
            lo = lo - lo % HOUR + HOUR
        out.append((res, lo, hi, sign))
    return out


async def energy_and_location(
    store: Store, sites: Sequence[str], start: int, end: int, fields: tuple[str, ...]
) -> tuple[dict[tuple[str, str], dict[str, float]], dict[str, float]]:
    """(site, flow) -> field -> sum, and site -> location-based kgCO2e, over [start, end) in
    one pass of reads; a key is present only where some stored row was read."""
    return await _read(store, sites, start, end, fields, location=True)


async def energy_sums(
    store: Store,
    sites: Sequence[str],
    start: int,
    end: int,
    fields: tuple[str, ...] = ENERGY_FIELDS,
) -> dict[tuple[str, str], dict[str, float]]:
    """(site, flow) -> field -> sum over [start, end): one read per tile for all fields."""
    return (await _read(store, sites, start, end, fields, location=False))[0]


async def energy_by_flow(
    store: Store, sites: Sequence[str], start: int, end: int, fld: str = "kwh"
) -> dict[tuple[str, str], float]:
    """(site, flow) -> sum of `fld` (kwh, estimated_kwh, suspect_kwh) over [start, end)."""
    sums = await energy_sums(store, sites, start, end, (fld,))
    return defaultdict(float, {k: v[fld] for k, v in sums.items()})


async def location_kg(store: Store, sites: Sequence[str], start: int, end: int) -> dict[str, float]:
    """site -> location-based Scope 2 kgCO2e over [start, end)."""
    return (await _read(store, sites, start, end, ("kwh",), location=True))[1]


def _year_start(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) * NS


def _year_pieces(start: int, end: int) -> list[tuple[int, int, int]]:
    """(year, lo, hi): [start, end) cut at 1 January (UTC)."""
    out = []
    year = datetime.fromtimestamp(start / NS, tz=UTC).year
    lo = start
    while lo < end:
        hi = min(end, _year_start(year + 1))
        out.append((year, lo, hi))
        lo, year = hi, year + 1
    return out


def market_kg(
    site: Site, book: FactorBook, year: int, before_kwh: float, within_kwh: float
) -> float | None:
    """A site's market-based Scope 2 for `within_kwh` imported after `before_kwh` this year."""
    try:
        residual = (
            site.market.residual_mix_kg_per_kwh
            if site.market and site.market.residual_mix_kg_per_kwh is not None
            else book.residual_mix(site.grid_region, year)
        )
    except EmissionsError:
        return None
    block = InstrumentBlock.from_markets([site.market], year) if site.market else None
    if block is None or block.kwh.size == 0:
        return within_kwh * residual
    result = scope2_market(np.array([[before_kwh, within_kwh]]), block, residual)
    return float(result.kg[0, 1])


async def site_totals(
    store: Store, sites: Sequence[Site], book: FactorBook | None, start: int, end: int
) -> dict[str, SiteTotals]:
    """Every site's `SiteTotals` over [start, end).

    The range is read per calendar year it touches (market-based Scope 2 is per year), each
    year's energy once for all fields; the imports from 1 January to the range's start are
    read only for the first year (the others start on 1 January)."""
    ids = [s.id for s in sites]
    out = {s.id: SiteTotals() for s in sites}
    if not ids or end <= start:
        return out
    pieces = _year_pieces(start, end)
    first_year, first_lo, _ = pieces[0]
    # Imports since 1 January matter only to sites holding instruments (the others' market
    # figure is their imports at the residual mix).
    holders = [s.id for s in sites if s.market and book is not None]
    before_read = _read(store, holders, _year_start(first_year), first_lo, ("kwh",), False)
    before_got, per_year = await asyncio.gather(
        before_read,
        asyncio.gather(*(_read(store, ids, lo, hi, ENERGY_FIELDS, True) for _, lo, hi in pieces)),
    )
    before = before_got[0]
    loc: dict[str, float] = defaultdict(float)
    for (year, _, _), (energy, kg) in zip(pieces, per_year, strict=True):
        for site, v in kg.items():
            loc[site] += v
        for (site, flow), fields in energy.items():
            if site not in out:
                continue
            t = out[site]
            t.energy_kwh[flow] += fields["kwh"]
            t.estimated_kwh += fields["estimated_kwh"]
            t.suspect_kwh += fields["suspect_kwh"]
        if book is None:
            continue
        for place in sites:
            prior = before.get((place.id, "import"), {}).get("kwh", 0.0)
            if year != first_year:
                prior = 0.0
            within = energy.get((place.id, "import"), {}).get("kwh", 0.0)
            kg_m = market_kg(place, book, year, prior, within)
            if kg_m is not None:
                t = out[place.id]
                t.market_kg = (t.market_kg or 0.0) + kg_m
    for site, v in loc.items():
        if site in out:
            out[site].location_kg = v
    for t in out.values():
        if not t.energy_kwh:
            t.market_kg = None
    return out
