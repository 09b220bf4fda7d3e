"""Demand-response events: create (operator), list, and read with plan, state and results."""

from __future__ import annotations

from typing import Annotated, Self

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, model_validator

from peakline_api.access import issuer_of
from peakline_api.dr import DemandResponse
from peakline_api.errors import InvalidQuery
from peakline_api.services.demand_response import (
    DrEvent,
    DrEventList,
    cancel,
    event_list,
    event_out,
    one_event,
)
from peakline_api.state import Caller, OperatorCaller, State
from peakline_api.timespec import parse_time

router = APIRouter(prefix="/api/v1", tags=["demand response"])
_ID = r"^[A-Za-z0-9_-]{1,64}$"


class DrEventIn(BaseModel):
    name: str = Field(default="", max_length=200)
    sites: list[str] = Field(min_length=1, max_length=200)
    reduce_kw: float | None = Field(default=None, gt=0, description="kW less at each site")
    reduce_pct: float | None = Field(
        default=None, gt=0, le=100, description="% less than each site's recent load"
    )
    start: str = Field(default="now", max_length=64, description="ISO 8601 or relative (`now`)")
    end: str = Field(max_length=64, description="ISO 8601 or relative (`now+1h`)")
    marginal_g_per_kwh: float | None = Field(
        default=None, ge=0, description="marginal emission factor for avoided emissions"
    )

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.reduce_kw is None) == (self.reduce_pct is None):
            raise ValueError("give exactly one of reduce_kw and reduce_pct")
        return self


def dr_service(state: State) -> DemandResponse:
    return state.dr


DrDep = Annotated[DemandResponse, Depends(dr_service)]


@router.post(
    "/dr-events",
    status_code=201,
    response_model=DrEvent,
    response_model_exclude_unset=True,
    summary="Create a demand-response event (operator)",
)
async def create_event(body: DrEventIn, caller: OperatorCaller, dr: DrDep) -> DrEvent:
    """Plan the event from each site's configured flexibility now; its commands are issued
    at `start` and reverted by the edge at `end`."""
    sites = [caller.site(s) for s in dict.fromkeys(body.sites)]
    now = dr.clock_ns()
    try:
        start_ns = parse_time(body.start, now)
        end_ns = parse_time(body.end, now)
    except ValueError as exc:
        raise InvalidQuery(str(exc), param="start/end") from None
    event = await dr.create(
        {
            "name": body.name,
            "reduce_kw": body.reduce_kw,
            "reduce_pct": body.reduce_pct,
            "start_ns": start_ns,
            "end_ns": end_ns,
            "marginal_g_per_kwh": body.marginal_g_per_kwh,
        },
        sites,
        issuer_of(caller),
    )
    return await event_out(dr, event)


@router.get(
    "/dr-events",
    response_model=DrEventList,
    response_model_exclude_unset=True,
    summary="Demand-response events, newest first",
)
async def list_events(caller: Caller, dr: DrDep) -> DrEventList:
    return await event_list(dr, caller)


@router.get(
    "/dr-events/{event_id}",
    response_model=DrEvent,
    response_model_exclude_unset=True,
    summary="One event: plan, commands, verified results",
)
async def get_event(event_id: str, caller: Caller, dr: DrDep) -> DrEvent:
    return await one_event(dr, caller, event_id)


@router.post(
    "/dr-events/{event_id}/cancel",
    response_model=DrEvent,
    response_model_exclude_unset=True,
    summary="End an event now and revert (operator)",
)
async def cancel_event(event_id: str, caller: OperatorCaller, dr: DrDep) -> DrEvent:
    """A scheduled event never starts; an active one's commands are reverted to the values
    read before it (the `previous` of each action), and its unsent commands expire."""
    return await cancel(dr, caller, event_id, issuer_of(caller))
