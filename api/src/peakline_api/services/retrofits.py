"""Retrofits and their measured savings (IPMVP Option C, whole-facility regression).

POST/GET retrofits record what an operator did to a site; GET .../savings fits the site's
pre-retrofit baseline (daily imported kWh against daily mean outdoor temperature and
weekday/weekend, `peakline_core.mv`) and reports avoided kWh with its uncertainty, the fit
statistics (CV(RMSE), NMBE), warnings when the baseline is not fit for purpose, and avoided
emissions with the location-based grid factor in force. Days are UTC days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import date as Date
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from peakline_api.access import Access
from peakline_api.errors import InvalidQuery, UnknownId
from peakline_api.retrofit_store import Retrofit, RetrofitStore
from peakline_api.state import AppState
from peakline_api.statedb import StateDb
from peakline_api.timespec import NS, iso
from peakline_core.config import Site
from peakline_core.emissions import FactorNotFound
from peakline_core.mv import BaselineError, fit_baseline, savings
from peakline_core.storage import Aggregate, SeriesQuery
from peakline_core.storage.schema import ENERGY_1D, READING

DAY_NS = 86400 * NS
ENERGY_FLOW = "import"
TEMPERATURE_POINT = "outdoor_temp"
MAX_ESTIMATED_SHARE = 0.1
COEFFICIENTS = ("kwh_per_day", "kwh_per_hdd", "kwh_per_cdd", "weekend_kwh_per_day")


class RetrofitOut(BaseModel):
    id: str
    site: str
    city: str
    district: str
    date: Date
    measures: list[str]
    cost: float | None
    currency: str | None
    note: str
    recorded_by: str
    recorded_at: str


class GridFactor(BaseModel):
    """The location-based grid factor in force in the retrofit's year."""

    set_id: str
    region: str
    year: int
    kind: str
    kgco2e_per_kwh: float
    gas: str


class Baseline(BaseModel):
    """The pre-retrofit model: daily kWh against HDD, CDD and weekend (change-point)."""

    start: Date
    end: Date
    days_used: int
    cv_rmse: float = Field(description="CV(RMSE), ASHRAE Guideline 14: at most 0.25 daily")
    nmbe: float = Field(description="normalised mean bias error, within +-0.005 to be fit")
    r2: float
    heating_base_c: float
    cooling_base_c: float
    coefficients: dict[str, float]
    fit_for_purpose: bool
    warnings: list[str]


class Reporting(BaseModel):
    start: Date
    end: Date
    days_used: int
    adjusted_baseline_kwh: float = Field(description="what the baseline predicts for these days")
    actual_kwh: float


class SavingsInputs(BaseModel):
    energy: dict[str, str]
    temperature: dict[str, str | list[str]]
    days: str


class RetrofitSavings(BaseModel):
    retrofit: RetrofitOut
    method: str
    baseline: Baseline
    reporting: Reporting
    avoided_kwh: float
    uncertainty_kwh: float
    confidence: float
    fraction: float = Field(description="avoided share of the adjusted baseline")
    significant: bool = Field(description="avoided is larger than its uncertainty")
    avoided_tco2e: float | None
    uncertainty_tco2e: float | None
    factor: GridFactor | None
    inputs: SavingsInputs


def retrofits_db(state: AppState) -> Path | StateDb:
    """The shared state database, else `retrofits.db` next to the key database."""
    if state.state_db is not None:
        return state.state_db
    return state.settings.keys_db.with_name("retrofits.db")


def retrofit_out(r: Retrofit, site: Site) -> RetrofitOut:
    return RetrofitOut(
        id=r.id,
        site=r.site,
        city=site.city,
        district=site.district,
        date=r.day,
        measures=list(r.measures),
        cost=r.cost,
        currency=r.currency,
        note=r.note,
        recorded_by=r.recorded_by,
        recorded_at=iso(r.recorded_at_ns),
    )


EARLIEST_RETROFIT = Date(2000, 1, 1)
"""Older works have no metered baseline here; the bound keeps date arithmetic in range."""
MAX_REPORTING_DAYS = 1096
"""A savings report covers at most three years after the works (the query's own bound)."""
MAX_CACHED_REPORTS = 4096


def visible_retrofit(caller: Access, state: AppState, retrofit_id: str) -> tuple[Retrofit, Site]:
    """The retrofit if its site is visible to the caller; 404 otherwise (no oracle)."""
    if len(retrofit_id) > 64:
        raise UnknownId("no such retrofit")
    with RetrofitStore(retrofits_db(state)) as store:
        r = store.get(retrofit_id)
    if r is None:
        raise UnknownId(f"no retrofit {retrofit_id!r}")
    try:
        site = caller.site(r.site)
    except UnknownId:
        raise UnknownId(f"no retrofit {retrofit_id!r}") from None
    return r, site


def _day_ns(d: Date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) * NS


async def daily_inputs(
    state: AppState, site: Site, start: Date, days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Daily imported kWh [D], daily mean outdoor degC [D] (NaN = missing), weekend flags [D],
    and the devices the temperature came from (the site's own, else its city's)."""
    t0 = _day_ns(start)
    t1 = t0 + days * DAY_NS
    energy = np.full(days, np.nan)
    estimated = np.zeros(days)
    for field, into in (("kwh", None), ("estimated_kwh", estimated)):
        for s in await state.store.query(
            SeriesQuery(ENERGY_1D, field, t0, t1, {"site": [site.id], "flow": [ENERGY_FLOW]},
                        every_ns=DAY_NS, aggregate=Aggregate.SUM)
        ):  # fmt: skip
            for ts, v in zip(s.times, s.values, strict=True):
                if isinstance(v, int | float):
                    i = (ts - t0) // DAY_NS
                    if into is not None:
                        into[i] += float(v)
                    else:
                        energy[i] = (0.0 if np.isnan(energy[i]) else energy[i]) + float(v)
    energy = measured_days(energy, estimated)
    temperature = np.full(days, np.nan)
    sources: list[str] = []
    registry = state.registry
    same_city = [s.id for s in registry.sites.values() if s.city == site.city]
    for candidates in ([site.id], same_city):
        devices = [
            d.id
            for sid in candidates
            for d in registry.devices_of_site(sid)
            if TEMPERATURE_POINT in registry.points.get(d.id, {})
        ]
        if not devices:
            continue
        series = await state.store.query(
            SeriesQuery(READING, "value", t0, t1,
                        {"site": candidates, "device": devices, "point": [TEMPERATURE_POINT]},
                        every_ns=DAY_NS, aggregate=Aggregate.MEAN)
        )  # fmt: skip
        total, count = np.zeros(days), np.zeros(days)
        for s in series:
            for ts, v in zip(s.times, s.values, strict=True):
                if isinstance(v, int | float):
                    total[(ts - t0) // DAY_NS] += float(v)
                    count[(ts - t0) // DAY_NS] += 1
        if count.any():
            temperature = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            sources = sorted({s.tags["device"] for s in series})
            break
    weekend = np.array([(start + timedelta(days=i)).weekday() >= 5 for i in range(days)])
    return energy, temperature, weekend, sources


def measured_days(energy_kwh: np.ndarray, estimated_kwh: np.ndarray) -> np.ndarray:
    """Daily kWh [D] with the days mostly bridged over a gap (more than
    `MAX_ESTIMATED_SHARE` of their energy estimated) set to NaN: a day interpolated across
    an outage says nothing about that day's weather or weekday, so it neither fits a
    baseline nor counts as a reporting day."""
    share = np.where(energy_kwh > 0, estimated_kwh / np.where(energy_kwh > 0, energy_kwh, 1.0), 0)
    out: np.ndarray = np.where(share > MAX_ESTIMATED_SHARE, np.nan, energy_kwh)
    return out


def _grid_factor(state: AppState, site: Site, year: int) -> GridFactor | None:
    book = state.registry.config.factor_book()
    try:
        f = book.lookup(site.grid_region, "location", year)
    except FactorNotFound:
        return None
    return GridFactor(
        set_id=f.set_id,
        region=f.region,
        year=f.year,
        kind="location",
        kgco2e_per_kwh=f.value,
        gas=f.gas,
    )


async def measured_savings(
    state: AppState,
    r: Retrofit,
    site: Site,
    baseline_days: int = 365,
    reporting_days: int | None = None,
    confidence: str = "0.9",
) -> RetrofitSavings:
    """The savings report of one retrofit (see `retrofit_savings`); raises InvalidQuery when
    the data cannot support one (no weather, too few baseline days, no reporting day, a date
    out of range). Reports are cached per retrofit for the current clock hour."""
    now = state.clock_ns()
    key = (r.id, r.day, now // (3600 * NS), baseline_days, reporting_days, confidence)
    cached = state.savings.get(key)
    if cached is not None:
        return cached
    if len(state.savings) >= MAX_CACHED_REPORTS:
        state.savings.clear()
    report = await _measured_savings(state, r, site, now, baseline_days, reporting_days, confidence)
    state.savings[key] = report
    return report


async def _measured_savings(
    state: AppState,
    r: Retrofit,
    site: Site,
    now: int,
    baseline_days: int,
    reporting_days: int | None,
    confidence: str,
) -> RetrofitSavings:
    today = datetime.fromtimestamp(now / NS, tz=UTC).date()
    if r.day < EARLIEST_RETROFIT:  # recorded before the bound existed
        raise InvalidQuery(f"date before {EARLIEST_RETROFIT}", param="date")
    available = (today - r.day).days
    days_after = min(reporting_days or available, available, MAX_REPORTING_DAYS)
    if days_after < 1:
        raise InvalidQuery("no complete reporting day after the retrofit yet", param="date")
    base_start = r.day - timedelta(days=baseline_days)
    energy, temp, weekend, sources = await daily_inputs(
        state, site, base_start, baseline_days + days_after
    )
    if not sources:
        raise InvalidQuery(
            f"no {TEMPERATURE_POINT} readings for {site.id} or its city: cannot normalise "
            "for weather",
            param="retrofit",
        )
    b, p = slice(0, baseline_days), slice(baseline_days, None)
    try:
        model = fit_baseline(energy[None, b], temp[None, b], weekend[b])
    except BaselineError as exc:
        raise InvalidQuery(f"baseline: {exc}", param="baseline_days") from None
    rep = savings(model, energy[None, p], temp[None, p], weekend[p], float(confidence))
    factor = _grid_factor(state, site, r.day.year)
    kg = factor.kgco2e_per_kwh if factor else None
    avoided, unc = float(rep.avoided_kwh[0]), float(rep.uncertainty_kwh[0])
    return RetrofitSavings(
        retrofit=retrofit_out(r, site),
        method="IPMVP Option C whole-facility regression: daily kWh ~ HDD + CDD + weekend "
        "(change-point, ASHRAE Guideline 14 statistics)",
        baseline=Baseline(
            start=r.day - timedelta(days=baseline_days),
            end=r.day,
            days_used=int(model.n[0]),
            cv_rmse=float(model.cv_rmse[0]),
            nmbe=float(model.nmbe[0]),
            r2=float(model.r2[0]),
            heating_base_c=float(model.heating_base_c[0]),
            cooling_base_c=float(model.cooling_base_c[0]),
            coefficients=dict(zip(COEFFICIENTS, map(float, model.coef[0]), strict=True)),
            fit_for_purpose=bool(model.fit_for_purpose[0]),
            warnings=model.warnings()[0],
        ),
        reporting=Reporting(
            start=r.day,
            end=r.day + timedelta(days=days_after),
            days_used=int(rep.days[0]),
            adjusted_baseline_kwh=float(rep.baseline_kwh[0]),
            actual_kwh=float(rep.actual_kwh[0]),
        ),
        avoided_kwh=avoided,
        uncertainty_kwh=unc,
        confidence=rep.confidence,
        fraction=float(rep.fraction[0]),
        significant=bool(rep.significant[0]),
        avoided_tco2e=None if kg is None else avoided * kg / 1000.0,
        uncertainty_tco2e=None if kg is None else unc * kg / 1000.0,
        factor=factor,
        inputs=SavingsInputs(
            energy={"measurement": ENERGY_1D, "flow": ENERGY_FLOW, "site": site.id},
            temperature={"point": TEMPERATURE_POINT, "devices": sources},
            days="UTC",
        ),
    )


def add_retrofit(
    state: AppState,
    site: Site,
    day: Date,
    measures: list[str],
    cost: float | None,
    currency: str | None,
    note: str,
    key_id: str,
) -> RetrofitOut:
    """Record one retrofit of a site (its date already checked), as the API shows it."""
    with RetrofitStore(retrofits_db(state)) as store:
        r = store.add(
            site.id,
            day,
            measures,
            cost,
            currency,
            note,
            key_id,
            state.clock_ns(),
        )
    return retrofit_out(r, site)


def retrofits_of(state: AppState, sites: dict[str, Site]) -> list[RetrofitOut]:
    """The retrofits of these sites (by id), as the API shows them."""
    with RetrofitStore(retrofits_db(state)) as store:
        return [retrofit_out(r, sites[r.site]) for r in store.of_sites(list(sites))]
