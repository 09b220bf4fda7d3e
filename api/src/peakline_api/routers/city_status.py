"""Per city: "are we on track?" for the overview's city cards (the rules are in
services/city_status.py and docs/api.md)."""

from __future__ import annotations

from fastapi import APIRouter

from peakline_api.services.city_status import CityStatus, city_statuses
from peakline_api.state import Caller, State

router = APIRouter(prefix="/api/v1", tags=["reports"])


@router.get(
    "/overview/cities",
    response_model=list[CityStatus],
    summary="Per city: this month's emissions against last year and the target path",
)
async def city_status(caller: Caller, state: State) -> list[CityStatus]:
    """Every city the caller sees; the rules are in the module docstring (docs/api.md)."""
    return await city_statuses(caller, state)
