"""Anomaly events (opened and closed by ingest's detectors) and anomaly score series."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from peakline_api.models import Page, SeriesResponse
from peakline_api.params import AggParam, FiltersDep, PagingDep, RangeDep, WindowParam
from peakline_api.services.anomalies import AnomalyEvent, anomaly_events
from peakline_api.services.series import series_response
from peakline_api.state import Caller, State
from peakline_core.storage import Aggregate
from peakline_core.storage.schema import ANOMALY_SCORE

router = APIRouter(prefix="/api/v1", tags=["anomalies"])


@router.get("/anomalies", response_model=Page[AnomalyEvent], summary="Anomaly events, newest first")
async def list_anomalies(
    caller: Caller,
    state: State,
    f: FiltersDep,
    tr: RangeDep,
    paging: PagingDep,
    status: Annotated[
        Literal["open", "closed"] | None, Query(description="only open or only closed events")
    ] = None,
) -> Page[AnomalyEvent]:
    """Events that started in the range (default: the last hour; use `start=-7d` for more)."""
    items = [e.event for e in await anomaly_events(caller, state, f, tr.start_ns, tr.end_ns)]
    if status:
        items = [e for e in items if e.state == status]
    return Page[AnomalyEvent].of(items, paging)


@router.get(
    "/anomalies/scores", response_model=SeriesResponse, summary="Anomaly score series (0..1)"
)
async def anomaly_scores(
    caller: Caller,
    state: State,
    f: FiltersDep,
    tr: RangeDep,
    window: WindowParam = None,
    agg: AggParam = Aggregate.MAX,
) -> SeriesResponse:
    return await series_response(
        state, caller, f, tr, window, agg, measurement=ANOMALY_SCORE, field="score"
    )
