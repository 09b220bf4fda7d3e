"""Latest readings, time-series queries with aggregation and downsampling, CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from peakline_api.models import LatestReading, Page, SeriesOut, SeriesResponse
from peakline_api.params import AggParam, FiltersDep, PagingDep, RangeDep, WindowParam
from peakline_api.services.series import fetch_series, newest_readings, series_response
from peakline_api.state import Caller, State
from peakline_api.timespec import iso
from peakline_core.storage import Aggregate

router = APIRouter(prefix="/api/v1", tags=["readings"])


@router.get(
    "/readings/latest",
    response_model=Page[LatestReading],
    summary="Newest reading of every matching point",
)
async def latest_readings(
    caller: Caller, state: State, f: FiltersDep, paging: PagingDep
) -> Page[LatestReading]:
    return Page[LatestReading].of(await newest_readings(caller, state, f), paging)


@router.get("/series", response_model=SeriesResponse, summary="Time series of readings")
async def series(
    caller: Caller,
    state: State,
    f: FiltersDep,
    tr: RangeDep,
    window: WindowParam = None,
    agg: AggParam = Aggregate.MEAN,
) -> SeriesResponse:
    """Raw points or windowed aggregates (mean/min/max/sum/last/count) of reading values.

    Long ranges without a window are downsampled automatically so each series stays under the
    server's point limit; the response says which window was used.
    """
    return await series_response(state, caller, f, tr, window, agg)


def _csv_rows(data: list[SeriesOut]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["time", "site", "device", "point", "unit", "value"])
    for s in data:
        for t_ms, value in zip(s.t_ms, s.values, strict=True):
            writer.writerow(
                [
                    iso(t_ms * 1_000_000),
                    s.site,
                    s.device,
                    s.point,
                    s.unit,
                    "" if value is None else value,
                ]
            )
            if buf.tell() > 64 * 1024:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
    yield buf.getvalue()


@router.get(
    "/series.csv",
    summary="Time series as CSV",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {}}, "description": "time,site,device,point,unit,value"}
    },
)
async def series_csv(
    caller: Caller,
    state: State,
    f: FiltersDep,
    tr: RangeDep,
    window: WindowParam = None,
    agg: AggParam = Aggregate.MEAN,
) -> StreamingResponse:
    """The same query as `/series`, one row per point, streamed."""
    data, _, _ = await fetch_series(state, caller, f, tr, window, agg)
    return StreamingResponse(
        _csv_rows(data),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="peakline-series.csv"'},
    )
