"""Query parameters shared by every list endpoint: the same names, meanings and limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from peakline_api.errors import InvalidQuery
from peakline_api.state import AppState, app_state
from peakline_api.timespec import TimeSpecError, parse_range, parse_window
from peakline_core.storage import Aggregate

_ID = r"^[A-Za-z0-9_-]{1,64}$"
_POINT = r"^[A-Za-z0-9_.-]{1,64}$"
_TIME_DOC = "ISO 8601 (`2025-03-01T08:00:00Z`) or relative to now (`now`, `-1h`, `now-7d`)"

IdList = list[str]


@dataclass(frozen=True, slots=True)
class Filters:
    """Standard id filters (repeatable; OR within a name, AND across names)."""

    site: list[str]
    district: list[str]
    city: list[str]
    device: list[str]
    point: list[str]


def filters(
    site: Annotated[
        list[str], Query(max_length=100, description="site id (repeatable)", examples=["rt-school"])
    ] = [],  # noqa: B006 - FastAPI copies defaults per request
    district: Annotated[list[str], Query(max_length=100, description="district id")] = [],  # noqa: B006
    city: Annotated[list[str], Query(max_length=100, description="city id")] = [],  # noqa: B006
    device: Annotated[list[str], Query(max_length=200, description="device id")] = [],  # noqa: B006
    point: Annotated[
        list[str], Query(max_length=100, description="point name", examples=["power_total"])
    ] = [],  # noqa: B006
) -> Filters:
    for name, values in (
        ("site", site),
        ("district", district),
        ("city", city),
        ("device", device),
        ("point", point),
    ):
        for v in values:
            if len(v) > 64:
                raise InvalidQuery(f"{name} ids are at most 64 characters", param=name)
    return Filters(site, district, city, device, point)


@dataclass(frozen=True, slots=True)
class TimeRange:
    start_ns: int
    end_ns: int


def time_range(
    state: Annotated[AppState, Depends(app_state)],
    start: Annotated[
        str | None,
        Query(
            max_length=64, description=f"range start: {_TIME_DOC}; default -1h", examples=["-1h"]
        ),
    ] = None,
    end: Annotated[
        str | None, Query(max_length=64, description=f"range end: {_TIME_DOC}; default now")
    ] = None,
) -> TimeRange:
    try:
        start_ns, end_ns = parse_range(start, end, state.clock_ns())
    except TimeSpecError as exc:
        raise InvalidQuery(str(exc), param="start/end") from None
    return TimeRange(start_ns, end_ns)


MAX_BUCKETS = 10_000
"""Most buckets per series an explicit window may ask for (1 week at 1 minute is 10080)."""


def window_ns(window: str, tr: TimeRange) -> int:
    """An explicit `window` parameter's length (ns), refused with a reason when malformed or
    when it cuts `tr` into more than `MAX_BUCKETS` windows."""
    try:
        every_ns = parse_window(window)
    except TimeSpecError as exc:
        raise InvalidQuery(str(exc), param="window") from None
    if (tr.end_ns - tr.start_ns) // every_ns > MAX_BUCKETS:
        raise InvalidQuery(f"more than {MAX_BUCKETS} windows per series: widen the window")
    return every_ns


@dataclass(frozen=True, slots=True)
class Paging:
    limit: int
    offset: int


def paging(
    limit: Annotated[int, Query(ge=1, le=1000, description="page size")] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000, description="items to skip")] = 0,
) -> Paging:
    return Paging(limit, offset)


FiltersDep = Annotated[Filters, Depends(filters)]
RangeDep = Annotated[TimeRange, Depends(time_range)]
PagingDep = Annotated[Paging, Depends(paging)]

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


def report_range(
    state: Annotated[AppState, Depends(app_state)],
    start: Annotated[str | None, Query(max_length=64, description="default -30d")] = None,
    end: Annotated[str | None, Query(max_length=64, description="default now")] = None,
) -> TimeRange:
    try:
        return TimeRange(*parse_range(start, end, state.clock_ns(), default="-30d"))
    except TimeSpecError as exc:
        raise InvalidQuery(str(exc), param="start/end") from None
