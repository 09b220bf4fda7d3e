"""Per city: "are we on track?" for the overview's city cards (the rules are in
services/city_status.py and docs/api.md)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from peakline_api.services.city_status import Basis, Reason, city_statuses
from peakline_api.state import Caller, State

router = APIRouter(prefix="/api/v1", tags=["reports"])


class TopSite(BaseModel):
    site: str
    name: str
    kgco2e: float
    share: float = Field(description="of the city's metered emissions over the period")


class Chart(BaseModel):
    t_ms: list[int] = Field(description="start of each day (UTC)")
    actual_kgco2e: list[float] = Field(description="cumulative, the verdict's sites")
    allowed_kgco2e: list[float] | None = Field(description="cumulative allowance")
    last_year_kgco2e: list[float] | None = Field(description="cumulative, same dates last year")


class CityStatus(BaseModel):
    id: str
    name: str
    period_start: str
    period_end: str
    days: int
    emissions_kgco2e: float | None = Field(description="all metered sites, location-based")
    sites_with_data: int
    sites: int
    kgco2e_per_m2: float | None = Field(description="metered sites with data, their floor area")
    kgco2e_per_capita: float | None = Field(description="metered sites only: partial coverage")
    on_track: bool | None
    basis: Basis | None
    reason: Reason | None = Field(description="why there is no verdict")
    compared_sites: list[str]
    change: float | None = Field(description="year on year: this / last year - 1")
    required_change: float | None = Field(description="year on year: cap ratio - 1")
    top_sites: list[TopSite]
    open_anomalies: int
    open_incidents: int | None = Field(description="None when alerts are off")
    devices: int
    devices_offline: int
    chart: Chart


@router.get(
    "/overview/cities",
    response_model=list[CityStatus],
    summary="Per city: this month's emissions against last year and the target path",
)
async def city_status(caller: Caller, state: State) -> list[dict[str, Any]]:
    """Every city the caller sees; the rules are in the module docstring (docs/api.md)."""
    return await city_statuses(caller, state)
