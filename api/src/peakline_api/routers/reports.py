"""Energy and emissions reports per site, district or city, carbon intensity, city overview,
energy windows: the endpoints; services/reports.py defines the response models and builds them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from peakline_api.models import SeriesResponse
from peakline_api.params import AggParam, FiltersDep, RangeDep, TimeRange, WindowParam, report_range
from peakline_api.services import reports
from peakline_api.services.reports import (
    EnergyResponse,
    IntensityNow,
    Report,
    SiteOverview,
)
from peakline_api.state import Caller, State
from peakline_core.storage import Aggregate

router = APIRouter(prefix="/api/v1", tags=["reports"])


@router.get("/reports/emissions", response_model=Report, summary="Energy and emissions report")
async def emissions_report(
    caller: Caller,
    state: State,
    f: FiltersDep,
    tr: Annotated[TimeRange, Depends(report_range)],
    level: Annotated[Literal["site", "district", "city"], Query()] = "site",
) -> Report:
    """Energy by flow, location- and market-based emissions by scope, and intensities.
    District and city rows leave out grid assets (`Site.in_totals`): a feeder's meter measures
    what it supplies to sites that are metered themselves."""
    return await reports.emissions_report(caller, state, f, tr, level)


@router.get(
    "/carbon-intensity",
    response_model=list[IntensityNow],
    summary="Grid carbon intensity in force per region (gCO2e/kWh)",
)
async def carbon_intensity(caller: Caller, state: State, f: FiltersDep) -> list[IntensityNow]:
    return await reports.carbon_intensity(caller, state, f)


@router.get("/overview", response_model=list[SiteOverview], summary="City overview per site")
async def overview(caller: Caller, state: State, f: FiltersDep) -> list[SiteOverview]:
    """Every visible site: power now, today's energy and emissions, status, open anomalies."""
    return await reports.overview(caller, state, f)


@router.get(
    "/carbon-intensity/series",
    response_model=SeriesResponse,
    summary="Grid carbon intensity over time (gCO2e/kWh)",
)
async def carbon_intensity_series(
    caller: Caller,
    state: State,
    tr: RangeDep,
    region: Annotated[list[str], Query(max_length=20, description="grid region id")] = [],  # noqa: B006
    window: WindowParam = None,
    agg: AggParam = Aggregate.MEAN,
) -> SeriesResponse:
    """One series per region of the caller's sites (regions outside them are 404)."""
    return await reports.carbon_intensity_series(caller, state, tr, region, window, agg)


@router.get(
    "/energy",
    response_model=EnergyResponse,
    summary="Derived energy per window: 1-minute windows per device, hourly or daily per site",
)
async def energy_windows(
    caller: Caller,
    state: State,
    f: FiltersDep,
    tr: RangeDep,
    resolution: Annotated[Literal["1m", "1h", "1d"], Query()] = "1h",
    flow: Annotated[list[str], Query(max_length=20)] = [],  # noqa: B006
) -> EnergyResponse:
    """The deriver's rows as stored (windows UTC-aligned, time = window start), with how much
    of each window was estimated and how much was seen but not believed."""
    return await reports.energy_windows(caller, state, f, tr, resolution, flow)
