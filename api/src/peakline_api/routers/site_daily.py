"""One site's last N local days for the site page's daily bars: the endpoint;
services/site_daily.py says what each figure is and computes them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from peakline_api.services.site_daily import SiteDays, site_days
from peakline_api.state import Caller, State

router = APIRouter(prefix="/api/v1", tags=["reports"])


@router.get(
    "/reports/daily",
    response_model=SiteDays,
    summary="One site's daily grid import and Scope 2 (location and market) for N days",
)
async def site_daily(
    caller: Caller,
    state: State,
    site: Annotated[str, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="site id")],
    days: Annotated[int, Query(ge=1, le=366, description="local days to today")] = 30,
) -> SiteDays:
    found = caller.site(site)  # 404 when not visible
    return await site_days(caller, state, found, days)
