"""`EnergyProcessor`: interval energy per site and flow, and Scope 2 emissions, on every batch.

What it does:

- picks energy sources from the device profiles: on main meters (profile kind `meter` or
  `feeder`; only the site's `meter` device when the site names one) the kWh/Wh counters
  whose point name says `import` or `export` give the flows `import` / `export`; on PV
  inverters (kind `pv_inverter`) a kWh/Wh counter gives `pv`. A main meter or inverter with
  no counter for a flow falls back to power (W or kW): net `power_total` split into import
  (positive) and export (negative), inverter `ac_power` into `pv`;
- per source, turns its good readings into interval energy with the core's
  `interval_energy_from_counter` (rollover, resets, gaps) or `integrate_power`
  (trapezoid of each sign clipped at zero, so an interval crossing zero counts half of each
  end on its side; intervals over `max_gap_s` left out), continuing from the source's last
  reading of the previous batch (carried in memory);
- writes one `energy` row (site, flow: kwh) per interval at the interval's end time, summed
  over the site's sources with the same end time, and for `import` one `emissions` row per
  interval and method (scope "2", method `location`: the grid factor of the site's
  `grid_region`; `market`: the core's `scope2_market` with the site's contractual
  instruments (`Site.market`, those of the interval's UTC year as vintage) matched to imports
  in time order, the rest at the residual mix -- the site's `residual_mix_kg_per_kwh` when
  set, else the book's, the location factor standing in where none is published), factors
  from the `FactorBook` for the reading's UTC year. This is the same rule the core's
  `compute_emissions` applies, so the `market` series the API sums equals the core's
  market-based Scope 2 over the same imports;
- carries each site's instrument volume used so far per year between batches
  (`matched_kwh`); after a restart, `restore_matched(store, now_ns)` recovers it from the
  imports stored since 1 January UTC (instruments are used up from the start of the year).

What it does not do (yet): sub-meters (HVAC, feeders' children) are not added to site flows,
to avoid double counting; Scope 1 gas, battery flows and `consumption` are not derived here,
so a site whose PV certificates are sold (`pv_certificates_retained: false`) does not get
its self-consumed PV added at the residual mix here (the core's report path does); the
carried last reading is in memory only, so after a restart the first interval of each
source is not counted; readings older than a source's last one (late redeliveries) are
skipped, not re-integrated; instruments are matched in the order imports arrive, which is
time order except when one site's meters report out of step.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import structlog

from peakline_core.config.loader import PlatformConfig
from peakline_core.config.profiles import ModbusProfile
from peakline_core.emissions import (
    EmissionsError,
    FactorBook,
    InstrumentBlock,
    SiteMarket,
    integrate_power,
    interval_energy_from_counter,
    scope2_market,
)
from peakline_core.storage import Aggregate, Row, RowBlock, SeriesQuery, Store
from peakline_core.storage.schema import EMISSIONS, ENERGY, QualityCode
from peakline_ingest.processors import ProcessorOutput
from peakline_ingest.validate import Accepted

log = structlog.get_logger("peakline.ingest.energy")

NS = 1_000_000_000
MAIN_METERS = frozenset({"meter", "feeder"})
_COUNTER_UNITS = {"kwh": 1.0, "wh": 1e-3, "mwh": 1e3}
_POWER_UNITS = {"w": 1e-3, "kw": 1.0, "mw": 1e3}
_NET_POWER = ("power_total", "power", "active_power")
_PV_POWER = ("ac_power", "power")


@dataclass(frozen=True, slots=True)
class EnergySource:
    """One reading series that measures a site flow.

    `kind` counter: cumulative energy, `factor` to kWh, `rollover` in kWh; power: `factor`
    to kW, `flow` "net" splits into import (>0) and export (<0).
    """

    site: str
    device: str
    point: str
    flow: str
    kind: Literal["counter", "power"]
    factor: float
    rollover: float | None = None


def _flow_of_counter(kind: str, point: str) -> str | None:
    name = point.lower()
    if kind in MAIN_METERS:
        if "reactive" in name:
            return None
        if "export" in name:
            return "export"
        if "import" in name:
            return "import"
        return None
    if kind == "pv_inverter":
        return "pv"
    return None


def sources_from_config(platform: PlatformConfig) -> list[EnergySource]:
    """Energy sources of every enabled device (see the module docstring for the rules)."""
    out: list[EnergySource] = []
    for device in platform.devices.values():
        profile = platform.profile_of(device)
        site = platform.sites.get(device.site)
        if not device.enabled or not isinstance(profile, ModbusProfile) or site is None:
            continue
        if profile.kind in MAIN_METERS and site.meter is not None and site.meter != device.id:
            continue
        found: dict[str, EnergySource] = {}
        for p in profile.points:
            unit = p.unit.lower()
            if not p.counter or unit not in _COUNTER_UNITS:
                continue
            flow = _flow_of_counter(profile.kind, p.name)
            if flow is None or flow in found:
                continue
            factor = _COUNTER_UNITS[unit]
            # SunSpec scale factors vary: the rollover is only known without one
            rollover = (
                abs(p.rollover * p.scale) * factor
                if p.rollover is not None and p.scale_factor is None
                else None
            )
            found[flow] = EnergySource(
                device.site, device.id, p.name, flow, "counter", factor, rollover
            )
        points = {p.name: p for p in profile.points}
        wanted = (
            _NET_POWER
            if profile.kind in MAIN_METERS
            else _PV_POWER
            if profile.kind == "pv_inverter"
            else ()
        )
        needs = {"import", "export"} if profile.kind in MAIN_METERS else {"pv"}
        if wanted and not needs <= found.keys():
            name = next((n for n in wanted if n in points), None)
            if name is not None and points[name].unit.lower() in _POWER_UNITS:
                flow = "net" if profile.kind in MAIN_METERS else "pv"
                factor = _POWER_UNITS[points[name].unit.lower()]
                if flow == "net" and found:  # one counter present: power fills the other only
                    log.info("mixed counter/power meter uses counters only", device=device.id)
                else:
                    found[flow] = EnergySource(device.site, device.id, name, flow, "power", factor)
        out.extend(found.values())
    return out


class EnergyProcessor:
    """Derives `energy` and `emissions` rows from each batch; see the module docstring."""

    name = "energy"

    def __init__(
        self,
        sources: Sequence[EnergySource],
        regions: Mapping[str, str],
        book: FactorBook | None = None,
        max_gap_s: float = 900.0,
        markets: Mapping[str, SiteMarket | None] | None = None,
    ) -> None:
        self.sources = list(sources)
        self.regions = dict(regions)
        self.book = book
        self.max_gap_s = max_gap_s
        self.markets = {site: m for site, m in (markets or {}).items() if m is not None}
        self.matched_kwh: dict[tuple[str, int], float] = {}
        """Instrument volume used so far, kWh, per (site, UTC year)."""
        self._index = {(s.site, s.device, s.point): i for i, s in enumerate(self.sources)}
        self._last_ts = np.full(len(self.sources), -1, np.int64)
        self._last_v = np.full(len(self.sources), np.nan)
        self._factors: dict[tuple[str, int], tuple[float, float] | None] = {}
        self._instruments: dict[tuple[str, int], InstrumentBlock | None] = {}

    @classmethod
    def from_config(cls, platform: PlatformConfig, max_gap_s: float = 900.0) -> EnergyProcessor:
        book = platform.factor_book() if platform.factor_sets else None
        regions = {s.id: s.grid_region for s in platform.sites.values()}
        markets = {s.id: s.market for s in platform.sites.values()}
        return cls(sources_from_config(platform), regions, book, max_gap_s, markets)

    async def restore_matched(self, store: Store, now_ns: int) -> None:
        """Recover `matched_kwh` after a restart: a site's instruments of this UTC year are
        used up by its imports from 1 January on, so the volume already used is the
        import energy stored since then (capped by `scope2_market` at the instruments'
        total). Raises the store's errors (`StoreUnavailable`)."""
        year = _utc_year(now_ns)
        sites = sorted(s for s in self.markets if self._instrument_block(s, year) is not None)
        start = int(np.datetime64(f"{year}-01-01", "ns").astype(np.int64))
        if not sites or now_ns <= start:
            return
        answer = await store.query(
            SeriesQuery(
                ENERGY,
                "kwh",
                start,
                now_ns,
                where={"site": sites, "flow": ["import"]},
                every_ns=now_ns - start,
                aggregate=Aggregate.SUM,
            )
        )
        for series in answer:
            used = sum(float(v) for v in series.values if isinstance(v, int | float))
            key = (series.tags.get("site", ""), year)
            self.matched_kwh[key] = self.matched_kwh.get(key, 0.0) + used

    def process(self, messages: Sequence[Accepted], block: RowBlock) -> ProcessorOutput:
        out = ProcessorOutput()
        if not self.sources or len(block) == 0:
            return out
        per_series = np.array(
            [self._index.get((t["site"], t["device"], t["point"]), -1) for t in block.series],
            dtype=np.int64,
        )
        src = per_series[block.series_index]
        value = np.asarray(block.fields["value"], dtype=np.float64)
        ok = (
            (src >= 0)
            & np.isfinite(value)
            & (np.asarray(block.fields["quality"]) == int(QualityCode.GOOD))
        )
        if not ok.any():
            return out
        src, ts, value = src[ok], block.ts[ok], value[ok]
        order = np.lexsort((ts, src))
        src, ts, value = src[order], ts[order], value[order]
        bounds = np.flatnonzero(np.diff(src)) + 1
        kwh: dict[tuple[str, str, int], float] = defaultdict(float)
        # one vectorized call per source present in the batch, not per reading
        for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, src.size], strict=True):
            self._source_energy(int(src[lo]), ts[lo:hi], value[lo:hi], kwh)
        imports: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for (site, flow, t), e in kwh.items():
            out.rows.append(Row(ENERGY, {"site": site, "flow": flow}, {"kwh": e}, t))
            if flow == "import":
                imports[site].append((t, e))
        for site, intervals in imports.items():
            out.rows.extend(self._emissions(site, sorted(intervals)))
        return out

    def _source_energy(
        self, i: int, ts: np.ndarray, v: np.ndarray, kwh: dict[tuple[str, str, int], float]
    ) -> None:
        source = self.sources[i]
        keep = np.r_[True, np.diff(ts) > 0] & (ts > self._last_ts[i])
        ts, v = ts[keep], v[keep] * source.factor
        if ts.size == 0:
            return
        if self._last_ts[i] >= 0:
            ts, v = np.r_[self._last_ts[i], ts], np.r_[self._last_v[i], v]
        self._last_ts[i], self._last_v[i] = ts[-1], v[-1]
        if ts.size < 2:
            return
        if source.kind == "counter":
            e = interval_energy_from_counter(ts, v[np.newaxis, :], source.rollover)[0]
            flows = {source.flow: e}
        else:
            if source.flow == "net":
                imp = integrate_power(
                    ts, np.maximum(v, 0.0)[np.newaxis, :], max_gap_s=self.max_gap_s
                )
                exp = integrate_power(
                    ts, np.maximum(-v, 0.0)[np.newaxis, :], max_gap_s=self.max_gap_s
                )
                flows = {"import": imp[0], "export": exp[0]}
            else:
                pv = integrate_power(
                    ts, np.maximum(v, 0.0)[np.newaxis, :], max_gap_s=self.max_gap_s
                )
                flows = {source.flow: pv[0]}
        ends = ts[1:].tolist()
        for flow, e in flows.items():
            for t, x in zip(ends, e.tolist(), strict=True):
                if x == x:  # NaN: energy unknown over that interval
                    kwh[(source.site, flow, t)] += x

    def _emissions(self, site: str, intervals: list[tuple[int, float]]) -> list[Row]:
        """Scope 2 rows (location, market) for one site's import intervals, time-ordered."""
        ts = np.array([t for t, _ in intervals], np.int64)
        kwh = np.array([e for _, e in intervals])
        years = ts.astype("datetime64[ns]").astype("datetime64[Y]").astype(np.int64) + 1970
        rows: list[Row] = []
        for year in np.unique(years).tolist():
            pick = years == year
            factors = self._factor(site, year)
            if factors is None:
                continue
            location, residual = factors
            e = kwh[pick]
            instruments = self._instrument_block(site, year)
            if instruments is None:
                market = e * residual
            else:
                result = scope2_market(
                    e[np.newaxis, :],
                    instruments,
                    residual,
                    matched_before=self.matched_kwh.get((site, year), 0.0),
                )
                market = result.kg[0]
                self.matched_kwh[(site, year)] = float(result.matched_after[0])
            for t, x, m in zip(ts[pick].tolist(), e.tolist(), market.tolist(), strict=True):
                rows.append(
                    Row(
                        EMISSIONS,
                        {"site": site, "scope": "2", "method": "location"},
                        {"kgco2e": x * location},
                        t,
                    )
                )
                rows.append(
                    Row(
                        EMISSIONS,
                        {"site": site, "scope": "2", "method": "market"},
                        {"kgco2e": m},
                        t,
                    )
                )
        return rows

    def _instrument_block(self, site: str, year: int) -> InstrumentBlock | None:
        """The site's instruments of vintage `year` as a one-site block (None: none)."""
        key = (site, year)
        if key not in self._instruments:
            market = self.markets.get(site)
            block = InstrumentBlock.from_markets([market], year) if market else None
            self._instruments[key] = block if block is not None and block.kwh.size else None
        return self._instruments[key]

    def _factor(self, site: str, year: int) -> tuple[float, float] | None:
        """(location, residual mix) kgCO2e/kWh for the site and year, None without factors."""
        region = self.regions.get(site)
        if region is None or self.book is None:
            return None
        key = (site, year)
        if key not in self._factors:
            market = self.markets.get(site)
            override = market.residual_mix_kg_per_kwh if market else None
            try:
                self._factors[key] = (
                    self.book.location_factor(region, year),
                    override if override is not None else self.book.residual_mix(region, year),
                )
            except EmissionsError as exc:
                log.warning("no grid factor, emissions not derived", region=region, error=str(exc))
                self._factors[key] = None
        return self._factors[key]


def _utc_year(ts_ns: int) -> int:
    return datetime.fromtimestamp(ts_ns / NS, tz=UTC).year
