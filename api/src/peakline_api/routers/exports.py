"""A city's archive over HTTP: `GET /api/v1/exports/{city}?start=&end=&format=csv`.

The response is the zip as it is made (StreamingResponse): the store is read a slice at a
time and the bytes leave as each slice is compressed. The caller needs the operator role and
a key that sees the city (an admin's programme-wide key sees every city); a city the key
cannot see is a 404 like any unknown id, a viewer of the city gets 403. See docs/export.md.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from peakline_api.alerts.service import alerts_db
from peakline_api.archive import AppDatabases, ExportError, city_scope, export_city
from peakline_api.control_wiring import ledger_url
from peakline_api.errors import InvalidQuery
from peakline_api.keys import Role
from peakline_api.ledger import sqlite_path
from peakline_api.routers.inventory import refrigerants_db
from peakline_api.routers.retrofits import retrofits_db
from peakline_api.state import AppState, Caller, State
from peakline_api.timespec import TimeSpecError, parse_range

router = APIRouter(prefix="/api/v1", tags=["exports"])


def app_databases(state: AppState) -> AppDatabases:
    return AppDatabases(
        state.state_db if state.state_db is not None else sqlite_path(ledger_url(state)),
        alerts_db(state),
        refrigerants_db(state),
        retrofits_db(state),
    )


@router.get(
    "/exports/{city}",
    summary="Everything a city owns for a period, as one streamed zip",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}}},
)
async def export_archive(
    request: Request,
    city: str,
    caller: Caller,
    state: State,
    start: Annotated[str, Query(description="ISO 8601 or relative (now-365d)")],
    end: Annotated[str | None, Query(description="default: now")] = None,
    format: Annotated[Literal["csv"], Query(description="csv (Parquet is not built)")] = "csv",
) -> StreamingResponse:
    the_city = caller.city(city)  # 404 unless the key sees it
    caller.require(Role.OPERATOR)
    try:
        lo, hi = parse_range(start, end, state.clock_ns())
        scope = city_scope(state.registry.config, the_city.id, lo, hi)
    except (TimeSpecError, ExportError) as exc:
        raise InvalidQuery(str(exc)) from exc
    chunks: AsyncGenerator[bytes, None] = export_city(
        state.store, scope, app_databases(state), now_ns=state.clock_ns()
    )

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in chunks:
                if chunk:
                    yield chunk
                if await request.is_disconnected():
                    return  # the client went away: stop reading the store
        finally:
            await chunks.aclose()

    name = f"{the_city.id}-{scope.start_ns // 10**9}-{scope.end_ns // 10**9}.zip"
    return StreamingResponse(
        body(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
