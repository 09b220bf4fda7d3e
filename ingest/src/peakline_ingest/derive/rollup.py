"""Roll-ups: hourly, daily and monthly energy per site and flow, and location-based Scope 2.

Each roll-up row is recomputed from the stored rows below it (never accumulated in memory),
so it is exact against them and the same whoever computes it: `energy_1h` is the sum of the
hour's `energy` windows over the site's devices, `energy_1d` the sum of the day's
`energy_1h` rows (UTC days), `emissions` (per site per UTC hour) the hour's import times the
region's grid intensity for that hour when a `carbon_intensity` series exists, else the
annual location factor of the programme's factor book; `emissions_1d` the day's sum;
`energy_1mo` and `emissions_1mo` (UTC calendar months) the sums of the month's daily rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from peakline_core.derive.calendar import month_after
from peakline_core.emissions import EmissionsError, FactorBook
from peakline_core.storage import Aggregate, Row, Series, SeriesQuery, Store
from peakline_core.storage.schema import (
    CARBON_INTENSITY,
    EMISSIONS,
    EMISSIONS_1D,
    EMISSIONS_1MO,
    ENERGY,
    ENERGY_1D,
    ENERGY_1H,
    ENERGY_1MO,
)

log = structlog.get_logger("peakline.ingest.derive")

NS = 1_000_000_000
HOUR = 3600 * NS
DAY = 86400 * NS
ENERGY_FIELDS = ("kwh", "estimated_kwh", "suspect_kwh")


@dataclass(frozen=True, slots=True)
class Rollups:
    """Writes the roll-ups of the hours a derivation step touched."""

    store: Store
    regions: Mapping[str, str]  # site -> grid region
    book: FactorBook | None

    async def hours(self, touched: Mapping[str, set[int]]) -> list[Row]:
        """`energy_1h` and `emissions` rows for the touched (site -> hour starts)."""
        if not touched:
            return []
        sites = sorted(touched)
        lo = min(min(h) for h in touched.values())
        hi = max(max(h) for h in touched.values()) + HOUR
        sums = await self._sums(ENERGY, sites, lo, hi, HOUR, touched)
        rows = [
            Row(ENERGY_1H, {"site": site, "flow": flow}, fields, t)
            for (site, flow, t), fields in sorted(sums.items())
        ]
        imports = {(site, t): f["kwh"] for (site, flow, t), f in sums.items() if flow == "import"}
        rows.extend(await self._emissions(imports, lo, hi))
        return rows

    async def days(self, touched: Mapping[str, set[int]]) -> list[Row]:
        """`energy_1d` and `emissions_1d` rows for the touched (site -> day starts)."""
        if not touched:
            return []
        sites = sorted(touched)
        lo = min(min(d) for d in touched.values())
        hi = max(max(d) for d in touched.values()) + DAY
        sums = await self._sums(ENERGY_1H, sites, lo, hi, DAY, touched)
        rows = [
            Row(ENERGY_1D, {"site": site, "flow": flow}, fields, t)
            for (site, flow, t), fields in sorted(sums.items())
        ]
        kg = await self.store.query(
            SeriesQuery(
                EMISSIONS,
                "kgco2e",
                lo,
                hi,
                where={"site": sites},
                every_ns=DAY,
                aggregate=Aggregate.SUM,
            )
        )
        for s in kg:
            site = s.tags.get("site", "")
            for t, v in zip(s.times, s.values, strict=True):
                if int(t) in touched.get(site, ()) and isinstance(v, int | float):
                    tags = {"site": site, "scope": s.tags.get("scope", "2"), "method": "location"}
                    rows.append(Row(EMISSIONS_1D, tags, {"kgco2e": float(v)}, int(t)))
        return rows

    async def months(self, touched: Mapping[str, set[int]]) -> list[Row]:
        """`energy_1mo` and `emissions_1mo` rows for the touched (site -> month starts)."""
        by_month: dict[int, list[str]] = defaultdict(list)
        for site, months in touched.items():
            for m in months:
                by_month[m].append(site)
        rows: list[Row] = []
        for m0, sites in sorted(by_month.items()):
            m1 = month_after(m0)
            sums: dict[tuple[str, str], dict[str, float]] = defaultdict(
                lambda: dict.fromkeys(ENERGY_FIELDS, 0.0)
            )
            for field in ENERGY_FIELDS:
                for s in await self._whole(ENERGY_1D, field, sorted(sites), m0, m1):
                    key = (s.tags.get("site", ""), s.tags.get("flow", ""))
                    sums[key][field] += _total(s.values)
            rows.extend(
                Row(ENERGY_1MO, {"site": site, "flow": flow}, fields, m0)
                for (site, flow), fields in sorted(sums.items())
            )
            for s in await self._whole(EMISSIONS_1D, "kgco2e", sorted(sites), m0, m1):
                tags = {"site": s.tags.get("site", ""), "scope": s.tags.get("scope", "2"),
                        "method": s.tags.get("method", "location")}  # fmt: skip
                rows.append(Row(EMISSIONS_1MO, tags, {"kgco2e": _total(s.values)}, m0))
        return rows

    async def _whole(
        self, measurement: str, field: str, sites: list[str], lo: int, hi: int
    ) -> list[Series]:
        """The sum of `field` over [lo, hi) per series (buckets are epoch-aligned, so a
        month may come back as two: the caller adds them up)."""
        return await self.store.query(
            SeriesQuery(
                measurement,
                field,
                lo,
                hi,
                where={"site": sites},
                every_ns=hi - lo,
                aggregate=Aggregate.SUM,
            )
        )

    async def _sums(
        self,
        measurement: str,
        sites: list[str],
        lo: int,
        hi: int,
        every: int,
        touched: Mapping[str, set[int]],
    ) -> dict[tuple[str, str, int], dict[str, float]]:
        out: dict[tuple[str, str, int], dict[str, float]] = defaultdict(
            lambda: dict.fromkeys(ENERGY_FIELDS, 0.0)
        )
        for field in ENERGY_FIELDS:
            answer = await self.store.query(
                SeriesQuery(
                    measurement,
                    field,
                    lo,
                    hi,
                    where={"site": sites},
                    every_ns=every,
                    aggregate=Aggregate.SUM,
                )
            )
            for s in answer:
                site, flow = s.tags.get("site", ""), s.tags.get("flow", "")
                for t, v in zip(s.times, s.values, strict=True):
                    if int(t) in touched.get(site, ()) and isinstance(v, int | float):
                        out[(site, flow, int(t))][field] += float(v)
        return out

    async def _emissions(
        self, imports: Mapping[tuple[str, int], float], lo: int, hi: int
    ) -> list[Row]:
        if not imports:
            return []
        regions = sorted({self.regions[s] for s, _ in imports if s in self.regions})
        hourly: dict[tuple[str, int], float] = {}
        if regions:
            answer = await self.store.query(
                SeriesQuery(
                    CARBON_INTENSITY,
                    "g_per_kwh",
                    lo,
                    hi,
                    where={"region": regions},
                    every_ns=HOUR,
                    aggregate=Aggregate.MEAN,
                )
            )
            for s in answer:
                for t, v in zip(s.times, s.values, strict=True):
                    if isinstance(v, int | float):
                        hourly[(s.tags.get("region", ""), int(t))] = float(v) / 1000.0
        rows = []
        for (site, t), kwh in sorted(imports.items()):
            region = self.regions.get(site)
            if region is None:
                continue
            if (region, t) in hourly:
                factor, basis = hourly[(region, t)], f"grid-hourly:{region}"
            else:
                annual = self._annual(region, t)
                if annual is None:
                    continue
                factor, basis = annual
            rows.append(
                Row(
                    EMISSIONS,
                    {"site": site, "scope": "2", "method": "location"},
                    {"kgco2e": kwh * factor, "kg_per_kwh": factor, "basis": basis},
                    t,
                )
            )
        return rows

    def _annual(self, region: str, t: int) -> tuple[float, str] | None:
        if self.book is None:
            return None
        year = datetime.fromtimestamp(t / NS, tz=UTC).year
        try:
            f = self.book.lookup(region, "location", year)
        except EmissionsError as exc:
            log.warning("no grid factor, emissions not derived", region=region, error=str(exc))
            return None
        return f.value, f"annual:{f.set_id}:{f.region}:{f.year}"


def _total(values: Sequence[object]) -> float:
    return float(sum(v for v in values if isinstance(v, int | float)))
