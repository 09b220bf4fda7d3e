"""Anomaly events (opened and closed by ingest's detectors) and anomaly score series."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from peakline_api.access import Access
from peakline_api.models import Page, SeriesResponse
from peakline_api.params import Filters, FiltersDep, PagingDep, RangeDep
from peakline_api.routers.readings import AggParam, WindowParam, fetch_series
from peakline_api.state import AppState, Caller, State
from peakline_api.timespec import iso
from peakline_core.storage import Aggregate, SeriesQuery
from peakline_core.storage.schema import ANOMALY_EVENT, ANOMALY_FEEDBACK, ANOMALY_SCORE

router = APIRouter(prefix="/api/v1", tags=["anomalies"])

_FIELDS = (
    "event_id",
    "state",
    "end",
    "peak_score",
    "points",
    "expected_low",
    "expected_high",
    "seen",
)


class AnomalyEvent(BaseModel):
    event_id: str
    site: str
    device: str
    point: str
    kind: str
    state: str
    start: str
    end: str | None
    peak_score: float | None
    points: list[str] = Field(
        description="every point of the device the incident involves (the lead `point` first)"
    )
    expected_low: float | None = Field(
        default=None, description="the range the lead point was expected in (a counter: per hour)"
    )
    expected_high: float | None = None
    seen: float | None = Field(default=None, description="what the lead point read at its peak")
    verdict: Literal["confirmed", "false_alarm"] | None = Field(
        default=None, description="an operator's verdict (POST .../feedback), the latest"
    )
    verdict_note: str | None = None


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
) -> dict[str, Any]:
    """Events that started in the range (default: the last hour; use `start=-7d` for more)."""
    items = await anomaly_events(caller, state, f, tr.start_ns, tr.end_ns)
    if status:
        items = [e for e in items if e["state"] == status]
    total = len(items)
    end = paging.offset + paging.limit
    return {
        "items": items[paging.offset : end],
        "total": total,
        "limit": paging.limit,
        "offset": paging.offset,
        "next_offset": end if end < total else None,
    }


async def anomaly_events(
    caller: Access, state: AppState, f: Filters, start_ns: int, end_ns: int
) -> list[dict[str, Any]]:
    """Events joined from their stored fields, registry-checked, newest first."""
    sel = caller.select(f.site, f.district, f.city, f.device, f.point)
    if not sel.devices:
        return []
    answers = await asyncio.gather(
        *(
            state.store.query(
                SeriesQuery(ANOMALY_EVENT, field, start_ns, end_ns, where=sel.where, limit=10_000)
            )
            for field in _FIELDS
        )
    )
    verdicts = await _verdicts(state, sel.where, start_ns, end_ns)
    events: dict[tuple[Any, ...], dict[str, Any]] = {}
    for field, series_list in zip(_FIELDS, answers, strict=True):
        for s in series_list:
            device, point = s.tags.get("device", ""), s.tags.get("point", "")
            if device not in sel.devices or point not in caller.registry.points.get(device, {}):
                continue
            for t, v in zip(s.times, s.values, strict=True):
                key = (s.tags.get("site"), device, point, s.tags.get("kind"), t)
                events.setdefault(key, {})[field] = v
    out = []
    for (site, device, point, kind, t), fields in events.items():
        end = fields.get("end")
        # a row stored before incidents folded a device's series has no `points`: its lead only
        listed = [p for p in str(fields.get("points") or "").split(",") if p]
        points = [point, *[p for p in listed if p != point]]
        out.append(
            {
                "event_id": str(fields.get("event_id") or f"{device}-{t}"),
                "site": site,
                "device": device,
                "point": point,
                "kind": kind or "",
                "state": str(fields.get("state") or "open"),
                "start": iso(t),
                "start_ns": t,
                "end": iso(int(end)) if isinstance(end, int | float) and end > 0 else None,
                "end_ns": int(end) if isinstance(end, int | float) and end > 0 else None,
                "peak_score": float(fields["peak_score"])
                if isinstance(fields.get("peak_score"), int | float)
                else None,
                "points": points,
                **{k: _number(fields.get(k)) for k in ("expected_low", "expected_high", "seen")},
            }
        )
        verdict = verdicts.get((out[-1]["event_id"], t))
        if verdict is not None:
            out[-1]["verdict"], out[-1]["verdict_note"] = verdict
    out.sort(key=lambda e: e["start"], reverse=True)
    return out


async def _verdicts(
    state: AppState, where: dict[str, list[str]], start_ns: int, end_ns: int
) -> dict[tuple[str, int], tuple[str, str]]:
    """(event id, start) -> the latest verdict and note (stored at the event's start)."""
    fields = ("event_id", "verdict", "note")
    answers = await asyncio.gather(
        *(
            state.store.query(
                SeriesQuery(ANOMALY_FEEDBACK, f, start_ns, end_ns, where=where, limit=100_000)
            )
            for f in fields
        )
    )
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for field, series_list in zip(fields, answers, strict=True):
        for s in series_list:
            for t, v in zip(s.times, s.values, strict=True):
                rows.setdefault((*sorted(s.tags.items()), t), {})[field] = v
    out = {}
    for key, f in rows.items():
        if f.get("verdict") in ("confirmed", "false_alarm"):
            note = str(f.get("note") or "")
            out[(str(f.get("event_id")), int(key[-1]))] = (str(f["verdict"]), note)
    return out


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


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
) -> dict[str, Any]:
    data, used, auto = await fetch_series(
        state, caller, f, tr, window, agg, measurement=ANOMALY_SCORE, field="score"
    )
    return {
        "start": iso(tr.start_ns),
        "end": iso(tr.end_ns),
        "window": used,
        "aggregate": agg.value if used else None,
        "downsampled": auto,
        "series": data,
    }
