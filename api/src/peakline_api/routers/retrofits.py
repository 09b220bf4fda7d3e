"""Retrofits and their measured savings (IPMVP Option C, whole-facility regression): the
request and response models and the endpoints; services/retrofits.py records them and fits
the baselines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from datetime import date as Date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from peakline_api.errors import InvalidQuery
from peakline_api.services import retrofits
from peakline_api.services.retrofits import RetrofitOut, RetrofitSavings
from peakline_api.state import Caller, OperatorCaller, State
from peakline_api.timespec import NS

router = APIRouter(prefix="/api/v1", tags=["retrofits"])
_ID = r"^[A-Za-z0-9_-]{1,64}$"


class RetrofitIn(BaseModel):
    site: str = Field(pattern=_ID)
    date: Date = Field(description="first day of the reporting period (works complete)")
    measures: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=50
    )
    cost: float | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    note: str = Field(default="", max_length=2000)


@router.post("/retrofits", status_code=201, response_model=RetrofitOut, summary="Record one")
async def record_retrofit(body: RetrofitIn, caller: OperatorCaller, state: State) -> RetrofitOut:
    site = caller.site(body.site)
    today = datetime.fromtimestamp(state.clock_ns() / NS, tz=UTC).date()
    if not retrofits.EARLIEST_RETROFIT <= body.date <= today + timedelta(days=366):
        raise InvalidQuery(
            f"date must be between {retrofits.EARLIEST_RETROFIT} and a year from today",
            param="date",
        )
    return retrofits.add_retrofit(
        state, site, body.date, body.measures, body.cost, body.currency, body.note, caller.key.id
    )


@router.get("/retrofits", response_model=list[RetrofitOut], summary="Retrofits of visible sites")
async def list_retrofits(
    caller: Caller,
    state: State,
    site: Annotated[list[str], Query(max_length=100)] = [],  # noqa: B006
    district: Annotated[list[str], Query(max_length=100)] = [],  # noqa: B006
    city: Annotated[list[str], Query(max_length=100)] = [],  # noqa: B006
) -> list[RetrofitOut]:
    sites = {s.id: s for s in caller.sites_matching(site, district, city)}
    return retrofits.retrofits_of(state, sites)


@router.get("/retrofits/{retrofit_id}", response_model=RetrofitOut, summary="One retrofit")
async def get_retrofit(retrofit_id: str, caller: Caller, state: State) -> RetrofitOut:
    r, site = retrofits.visible_retrofit(caller, state, retrofit_id)
    return retrofits.retrofit_out(r, site)


@router.get(
    "/retrofits/{retrofit_id}/savings",
    response_model=RetrofitSavings,
    summary="Measured savings (IPMVP Option C)",
)
async def retrofit_savings(
    retrofit_id: str,
    caller: Caller,
    state: State,
    baseline_days: Annotated[int, Query(ge=14, le=1096)] = 365,
    reporting_days: Annotated[int | None, Query(ge=1, le=1096)] = None,
    confidence: Literal["0.68", "0.8", "0.9", "0.95"] = "0.9",
) -> RetrofitSavings:
    """Avoided energy since the retrofit (kWh, tCO2e) with its uncertainty and the baseline's
    goodness of fit; reporting runs to the last complete UTC day unless `reporting_days`."""
    r, site = retrofits.visible_retrofit(caller, state, retrofit_id)
    return await retrofits.measured_savings(
        state, r, site, baseline_days, reporting_days, confidence
    )
