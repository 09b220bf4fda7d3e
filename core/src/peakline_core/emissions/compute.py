"""One call for ingest: flows of many sites in, per-interval emissions and reports out.

`compute_emissions` works on one block of intervals (a batch, a day, a year) for sites that
share interval starts. Series come out with the storage schema's tags: energy by `flow`,
emissions by (`scope`, `method`): ("2", "location"), ("2", "market"), ("1", "location") and
("1", "market") (the same Scope 1 figure under both methods, so either method's total is the
sum over its scopes), and ("avoided", "marginal"), which is never added to either.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from peakline_core.emissions._arrays import F64, I64, as_ts
from peakline_core.emissions.avoided import avoided_by_export
from peakline_core.emissions.book import FactorBook
from peakline_core.emissions.flows import SiteFlows
from peakline_core.emissions.intensity import CarbonIntensitySeries
from peakline_core.emissions.periods import Period, period_keys
from peakline_core.emissions.report import EmissionsReport, EmissionsTotals, Level
from peakline_core.emissions.scope1 import scope1_gas
from peakline_core.emissions.scope2 import (
    InstrumentBlock,
    SiteMarket,
    scope2_location,
    scope2_market,
)


class SiteLike(Protocol):
    """What the emissions core reads from a config `Site`."""

    @property
    def id(self) -> str: ...
    @property
    def grid_region(self) -> str: ...
    @property
    def floor_area_m2(self) -> float: ...
    @property
    def occupants(self) -> int: ...
    @property
    def timezone(self) -> str: ...


@dataclass(frozen=True, slots=True)
class EmissionsSeries:
    """Per-interval results for a block, kWh and kgCO2e, [sites, time]."""

    site_ids: tuple[str, ...]
    starts_ns: I64
    flows: SiteFlows
    gas_kwh: F64
    scope1_kg: F64
    scope2_location_kg: F64
    scope2_market_kg: F64
    avoided_kg: F64
    matched_after_kwh: F64
    """Instrument volume used so far this year per site, kWh: pass as `matched_before`."""

    def energy_series(self) -> dict[str, F64]:
        """Flow tag -> kWh [sites, time] (storage measurement `energy`)."""
        out = self.flows.as_dict()
        out["gas"] = self.gas_kwh
        return out

    def emission_series(self) -> dict[tuple[str, str], F64]:
        """(scope, method) tags -> kgCO2e [sites, time] (storage measurement `emissions`)."""
        return {
            ("2", "location"): self.scope2_location_kg,
            ("2", "market"): self.scope2_market_kg,
            ("1", "location"): self.scope1_kg,
            ("1", "market"): self.scope1_kg,
            ("avoided", "marginal"): self.avoided_kg,
        }

    def totals(self, mask: Any = None) -> list[EmissionsTotals]:
        """Per-site sums over the block (or over the [time] boolean `mask`)."""
        sel = slice(None) if mask is None else np.asarray(mask, dtype=bool)

        def s(a: F64) -> F64:
            out: F64 = np.nansum(a[:, sel], axis=1)
            return out

        f = self.flows
        cols = [
            s(f.grid_import),
            s(f.grid_export),
            s(f.pv),
            s(f.pv_self_consumed),
            s(f.consumption),
            s(self.gas_kwh),
            s(self.scope1_kg),
            s(self.scope2_location_kg),
            s(self.scope2_market_kg),
            s(self.avoided_kg),
        ]
        n = f.grid_import[:, sel].shape[1]
        have = np.isfinite(f.grid_import[:, sel]).sum(axis=1)
        names = (
            "import_kwh",
            "export_kwh",
            "pv_kwh",
            "pv_self_kwh",
            "consumption_kwh",
            "gas_kwh",
            "scope1_kg",
            "scope2_location_kg",
            "scope2_market_kg",
            "avoided_kg",
        )
        out = []
        for i in range(len(self.site_ids)):
            sums = {k: float(c[i]) for k, c in zip(names, cols, strict=True)}
            out.append(EmissionsTotals(**sums, intervals=n, intervals_with_data=int(have[i])))
        return out


def compute_emissions(
    starts_ns: Any,
    sites: Sequence[SiteLike],
    flows: SiteFlows,
    book: FactorBook,
    year: int,
    *,
    intensity: Mapping[str, CarbonIntensitySeries] | None = None,
    markets: Sequence[SiteMarket | None] | None = None,
    matched_before: Any = 0.0,
    gas_kwh: Any = None,
) -> EmissionsSeries:
    """Scope 1, Scope 2 (both methods) and avoided emissions per interval for `sites`.

    `starts_ns` interval starts (UTC ns) [time]; `flows` [sites, time] kWh in `sites` order;
    `year` picks factor years and instrument vintages; `intensity` maps grid region -> a
    series overriding the annual factor where it has values; `markets` per site;
    `gas_kwh` [sites, time] kWh of natural gas (net calorific value).
    """
    t = as_ts(starts_ns, flows.grid_import.shape[1])
    n_sites, n_t = flows.grid_import.shape
    regions = [s.grid_region for s in sites]
    loc = np.empty((n_sites, n_t))
    for region in set(regions):
        rows = [i for i, r in enumerate(regions) if r == region]
        annual = book.location_factor(region, year)
        series = intensity.get(region) if intensity else None
        loc[rows, :] = annual if series is None else series.kg_per_kwh_at(t, annual)[np.newaxis, :]
    residual = np.empty(n_sites)
    marginal = np.empty(n_sites)
    for i, (region, m) in enumerate(zip(regions, markets or [None] * n_sites, strict=True)):
        override = m.residual_mix_kg_per_kwh if m else None
        residual[i] = override if override is not None else book.residual_mix(region, year)
        marginal[i] = book.marginal(region, year)
    mk = markets or [None] * n_sites
    market = scope2_market(
        flows.grid_import,
        InstrumentBlock.from_markets(mk, year),
        residual,
        matched_before=matched_before,
        pv_self_kwh=flows.pv_self_consumed,
        pv_certificates_retained=np.array([m.pv_certificates_retained if m else True for m in mk]),
    )
    gas = np.zeros((n_sites, n_t)) if gas_kwh is None else np.asarray(gas_kwh, dtype=np.float64)
    scope1 = (
        scope1_gas(book.fuel("natural_gas", year), energy_kwh=gas).co2e
        if gas_kwh is not None
        else np.zeros((n_sites, n_t))
    )
    return EmissionsSeries(
        site_ids=tuple(s.id for s in sites),
        starts_ns=t,
        flows=flows,
        gas_kwh=gas,
        scope1_kg=scope1,
        scope2_location_kg=scope2_location(flows.grid_import, loc),
        scope2_market_kg=market.kg,
        avoided_kg=avoided_by_export(flows.grid_export, marginal),
        matched_after_kwh=market.matched_after,
    )


def site_reports(
    series: EmissionsSeries, sites: Sequence[SiteLike], period: Period
) -> list[EmissionsReport]:
    """One report per site and local period (each site in its own time zone)."""
    out: list[EmissionsReport] = []
    for i, site in enumerate(sites):
        keys = period_keys(series.starts_ns, period, site.timezone)
        one = _one_site(series, i)
        for key in np.unique(keys):
            totals = one.totals(keys == key)[0]
            out.append(
                EmissionsReport(
                    "site", site.id, _label(key, period), totals, site.floor_area_m2, site.occupants
                )
            )
    return out


def group_reports(
    reports: Sequence[EmissionsReport],
    group_of: Mapping[str, str],
    level: Level,
    population: Mapping[str, int] | None = None,
) -> list[EmissionsReport]:
    """Sum site reports into districts or cities (`group_of`: site id -> group id), per period.
    Totals, floor areas and occupants add; intensities follow from the sums."""
    acc: dict[tuple[str, str], tuple[EmissionsTotals, float, int]] = {}
    for r in reports:
        key = (group_of[r.entity_id], r.period)
        t, a, o = acc.get(key, (EmissionsTotals(), 0.0, 0))
        acc[key] = (t + r.totals, a + r.floor_area_m2, o + r.occupants)
    return [
        EmissionsReport(level, g, p, t, a, o, (population or {}).get(g))
        for (g, p), (t, a, o) in sorted(acc.items())
    ]


def _one_site(series: EmissionsSeries, i: int) -> EmissionsSeries:
    f = series.flows
    pick = slice(i, i + 1)
    return EmissionsSeries(
        (series.site_ids[i],),
        series.starts_ns,
        SiteFlows(
            f.grid_import[pick], f.grid_export[pick], f.pv[pick], f.charge[pick], f.discharge[pick]
        ),
        series.gas_kwh[pick],
        series.scope1_kg[pick],
        series.scope2_location_kg[pick],
        series.scope2_market_kg[pick],
        series.avoided_kg[pick],
        series.matched_after_kwh[pick],
    )


def _label(key: np.datetime64, period: Period) -> str:
    text = str(key)
    return {"year": text[:4], "month": text[:7], "day": text[:10], "hour": text[:13]}[period]
