"""Energy and emissions reports per site, district or city, carbon intensity, city overview,
energy windows: the response models and the endpoints; services/reports.py computes them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from peakline_api.models import SeriesResponse
from peakline_api.params import AggParam, FiltersDep, RangeDep, TimeRange, WindowParam, report_range
from peakline_api.services import reports
from peakline_api.state import Caller, State
from peakline_core.storage import Aggregate

router = APIRouter(prefix="/api/v1", tags=["reports"])


class Intensity(BaseModel):
    kwh_per_m2: float | None
    kgco2e_per_m2: float | None = Field(description="location-based")
    kgco2e_per_occupant: float | None
    kgco2e_per_capita: float | None = Field(description="cities only")


class EnergyQuality(BaseModel):
    estimated_kwh: float = Field(
        description="part of energy_kwh whose timing was estimated (gaps, glitches skipped)"
    )
    suspect_kwh: float = Field(
        description="steps seen on meters but not believed (beyond the site's max demand):"
        " not counted in energy_kwh"
    )


class ReportRow(BaseModel):
    level: str
    id: str
    name: str
    sites: int
    energy_kwh: dict[str, float] = Field(description="by flow (import, export, pv, ...)")
    energy_quality: EnergyQuality
    emissions_kgco2e: dict[str, dict[str, float]] = Field(
        description="by method (location, market) then scope"
    )
    intensity: Intensity


class Report(BaseModel):
    start: str
    end: str
    level: str
    gwp: str = Field(
        description="the programme's 100-year GWP set (programme.yaml `gwp`) for CH4 and N2O"
        " in CO2e; rows stored before a change of set keep the set they were computed with"
    )
    items: list[ReportRow]


@router.get("/reports/emissions", response_model=Report, summary="Energy and emissions report")
async def emissions_report(
    caller: Caller,
    state: State,
    f: FiltersDep,
    tr: Annotated[TimeRange, Depends(report_range)],
    level: Annotated[Literal["site", "district", "city"], Query()] = "site",
) -> dict[str, Any]:
    """Energy by flow, location- and market-based emissions by scope, and intensities.
    District and city rows leave out grid assets (`Site.in_totals`): a feeder's meter measures
    what it supplies to sites that are metered themselves."""
    return await reports.emissions_report(caller, state, f, tr, level)


class IntensityNow(BaseModel):
    region: str
    g_per_kwh: float | None
    time: str | None


@router.get(
    "/carbon-intensity",
    response_model=list[IntensityNow],
    summary="Grid carbon intensity in force per region (gCO2e/kWh)",
)
async def carbon_intensity(caller: Caller, state: State, f: FiltersDep) -> list[dict[str, Any]]:
    return await reports.carbon_intensity(caller, state, f)


class SiteOverview(BaseModel):
    id: str
    name: str
    city: str
    city_name: str
    district: str
    district_name: str
    power_kw: float | None = Field(description="sum of the main meters' latest power, kW")
    power_time: str | None
    energy_today_kwh: float | None = Field(description="since local midnight, imported")
    emissions_today_kgco2e: float | None = Field(description="since local midnight, location-based")
    devices: int
    online: int
    open_anomalies: int
    carbon_intensity_g_per_kwh: float | None


@router.get("/overview", response_model=list[SiteOverview], summary="City overview per site")
async def overview(caller: Caller, state: State, f: FiltersDep) -> list[dict[str, Any]]:
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
) -> dict[str, Any]:
    """One series per region of the caller's sites (regions outside them are 404)."""
    return await reports.carbon_intensity_series(caller, state, tr, region, window, agg)


class EnergyWindows(BaseModel):
    site: str
    device: str | None = Field(description="per device at 1m; roll-ups are per site")
    flow: str = Field(description="import, export, pv, fuel:<id>, heat:<network>")
    t_ms: list[int] = Field(description="window starts (UTC ms)")
    kwh: list[float] = Field(description="measured + estimated (a fuel flow: its own unit)")
    estimated_kwh: list[float]
    suspect_kwh: list[float] = Field(description="seen but not believed: not in kwh")
    quality: list[str] | None = Field(
        description="1m only: measured, estimated, suspect or imported"
    )


class EnergyResponse(BaseModel):
    start: str
    end: str
    resolution: Literal["1m", "1h", "1d"]
    series: list[EnergyWindows]


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
) -> dict[str, Any]:
    """The deriver's rows as stored (windows UTC-aligned, time = window start), with how much
    of each window was estimated and how much was seen but not believed."""
    return await reports.energy_windows(caller, state, f, tr, resolution, flow)
