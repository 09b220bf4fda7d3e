"""Latest readings, time-series queries with aggregation and downsampling, CSV export."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from peakline_api.access import Access, Selection
from peakline_api.errors import InvalidQuery
from peakline_api.models import LatestReading, Page, SeriesResponse
from peakline_api.params import Filters, FiltersDep, PagingDep, RangeDep, TimeRange
from peakline_api.state import AppState, Caller, State
from peakline_api.timespec import NS, TimeSpecError, auto_window, iso, parse_window
from peakline_core.storage import Aggregate, Series, SeriesQuery
from peakline_core.storage.schema import READING, QualityCode

router = APIRouter(prefix="/api/v1", tags=["readings"])

MAX_BUCKETS = 10_000
"""Most buckets per series an explicit window may ask for (1 week at 1 minute is 10080)."""

_QUALITY = {int(q): q.name.lower() for q in QualityCode}

WindowParam = Annotated[
    str | None,
    Query(
        max_length=16,
        description="aggregation window `<n><unit>` (s m h d w mo), 1m..1mo; "
        "omitted: raw points, or a window chosen to keep each series under the point limit",
        examples=["1m"],
    ),
]
AggParam = Annotated[Aggregate, Query(description="aggregate within each window")]


def _known(caller: Access, sel: Selection, s: Series) -> tuple[str, str, str] | None:
    """The series' (site, device, point) if it is a registered point of a selected device."""
    site, device, point = (s.tags.get(k, "") for k in ("site", "device", "point"))
    if device not in sel.devices or point not in caller.registry.points.get(device, {}):
        return None
    if sel.points and point not in sel.points:
        return None
    return site, device, point


@router.get(
    "/readings/latest",
    response_model=Page[LatestReading],
    summary="Newest reading of every matching point",
)
async def latest_readings(
    caller: Caller, state: State, f: FiltersDep, paging: PagingDep
) -> dict[str, Any]:
    sel = caller.select(f.site, f.district, f.city, f.device, f.point)
    if not sel.devices:
        return {
            "items": [],
            "total": 0,
            "limit": paging.limit,
            "offset": paging.offset,
            "next_offset": None,
        }
    values, qualities = await asyncio.gather(
        state.latest.latest(READING, "value", sel.where),
        state.latest.latest(READING, "quality", sel.where),
    )
    quality: dict[tuple[str, str, str], Any] = {}
    for s in qualities:
        key = _known(caller, sel, s)
        if key is not None and s.values:
            quality[key] = s.values[-1]
    items = []
    for s in values:
        key = _known(caller, sel, s)
        if key is None or not s.times:
            continue
        site, device, point = key
        q = quality.get(key)
        items.append(
            {
                "site": site,
                "device": device,
                "point": point,
                "unit": caller.registry.points[device][point].unit,
                "time": iso(s.times[-1]),
                "t_ms": s.times[-1] // 1_000_000,
                "value": s.values[-1],
                "quality": _QUALITY.get(int(q)) if isinstance(q, int | float) else None,
            }
        )
    items.sort(key=lambda r: (r["site"], r["device"], r["point"]))
    total = len(items)
    end = paging.offset + paging.limit
    return {
        "items": items[paging.offset : end],
        "total": total,
        "limit": paging.limit,
        "offset": paging.offset,
        "next_offset": end if end < total else None,
    }


async def fetch_series(
    state: AppState,
    caller: Access,
    f: Filters,
    tr: TimeRange,
    window: str | None,
    aggregate: Aggregate,
    measurement: str = READING,
    field: str = "value",
) -> tuple[list[dict[str, Any]], str | None, bool]:
    """Query per-point series (readings, or anomaly scores); returns (series dicts, window
    used, whether the API chose it)."""
    sel = caller.select(f.site, f.district, f.city, f.device, f.point)
    reg = caller.registry
    n_series = sum(
        len([p for p in reg.points[d] if not sel.points or p in sel.points]) for d in sel.devices
    )
    if n_series > state.settings.max_series:
        raise InvalidQuery(
            f"{n_series} series match; at most {state.settings.max_series}: narrow the filters"
        )
    if not sel.devices or n_series == 0:
        return [], window, False
    auto = False
    every_ns: int | None = None
    if window:
        try:
            every_ns = parse_window(window)
        except TimeSpecError as exc:
            raise InvalidQuery(str(exc), param="window") from None
        if (tr.end_ns - tr.start_ns) // every_ns > MAX_BUCKETS:
            raise InvalidQuery(f"more than {MAX_BUCKETS} windows per series: widen the window")
    else:
        sample_s = min(
            reg.sample_interval_s(d, p)
            for d in sel.devices
            for p in (sel.points or reg.points[d])
            if p in reg.points[d]
        )
        chosen = auto_window(
            tr.start_ns, tr.end_ns, state.settings.max_points_per_series, int(sample_s * NS)
        )
        if chosen is not None:
            window, every_ns = chosen
            auto = True
    query = SeriesQuery(
        measurement=measurement,
        field=field,
        start_ns=tr.start_ns,
        end_ns=tr.end_ns,
        where=sel.where,
        every_ns=every_ns,
        aggregate=aggregate,
        limit=None if every_ns else state.settings.max_points_per_series * 4,
    )
    out = []
    for s in await state.store.query(query):
        key = _known(caller, sel, s)
        if key is None:
            continue
        site, device, point = key
        out.append(
            {
                "site": site,
                "device": device,
                "point": point,
                "unit": reg.points[device][point].unit,
                "t_ms": [t // 1_000_000 for t in s.times],
                "values": list(s.values),
            }
        )
    out.sort(key=lambda r: (r["site"], r["device"], r["point"]))
    return out, window, auto


@router.get("/series", response_model=SeriesResponse, summary="Time series of readings")
async def series(
    caller: Caller,
    state: State,
    f: FiltersDep,
    tr: RangeDep,
    window: WindowParam = None,
    agg: AggParam = Aggregate.MEAN,
) -> dict[str, Any]:
    """Raw points or windowed aggregates (mean/min/max/sum/last/count) of reading values.

    Long ranges without a window are downsampled automatically so each series stays under the
    server's point limit; the response says which window was used.
    """
    data, used, auto = await fetch_series(state, caller, f, tr, window, agg)
    return {
        "start": iso(tr.start_ns),
        "end": iso(tr.end_ns),
        "window": used,
        "aggregate": agg.value if used else None,
        "downsampled": auto,
        "series": data,
    }


def _csv_rows(data: list[dict[str, Any]]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["time", "site", "device", "point", "unit", "value"])
    for s in data:
        for t_ms, value in zip(s["t_ms"], s["values"], strict=True):
            writer.writerow(
                [
                    iso(t_ms * 1_000_000),
                    s["site"],
                    s["device"],
                    s["point"],
                    s["unit"],
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
