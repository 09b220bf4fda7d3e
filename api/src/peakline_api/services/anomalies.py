"""Anomaly events as ingest's detectors stored them, joined field by field, registry-checked,
with the operators' latest verdicts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from peakline_api.access import Access
from peakline_api.params import Filters
from peakline_api.state import AppState
from peakline_api.timespec import iso
from peakline_core.anomaly.feedback import Verdict
from peakline_core.storage import SeriesQuery
from peakline_core.storage.schema import ANOMALY_EVENT, ANOMALY_FEEDBACK

_FIELDS = (
    "event_id",
    "state",
    "end",
    "peak_score",
    "points",
    "expected_low",
    "expected_high",
    "seen",
    "cause_ns",
    "cause_point",
    "cause_from",
    "cause_to",
)


class CommandCause(BaseModel):
    """The command that explains an incident: a writable point of the device changed value
    shortly before it started (issue 18)."""

    point: str = Field(description="the writable point (a setpoint, a mode, an enable)")
    before: float | None = Field(default=None, description="what it read before (its unit)")
    after: float | None = Field(default=None, description="what it read after")
    at: str = Field(description="when the new value was first read")


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
    cause: CommandCause | None = Field(
        default=None,
        description="the command that explains the incident (the platform's own order, e.g. a "
        "demand-response setpoint): stored for the record, raises no alert, not an alarm",
    )
    verdict: Literal["confirmed", "false_alarm"] | None = Field(
        default=None, description="an operator's verdict (POST .../feedback), the latest"
    )
    verdict_note: str | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the API answers it, with its start and end in ns (feedback rows need them)."""

    event: AnomalyEvent
    start_ns: int
    end_ns: int | None


async def anomaly_events(
    caller: Access, state: AppState, f: Filters, start_ns: int, end_ns: int
) -> list[StoredEvent]:
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
    events: dict[tuple[str | None, str, str, str | None, int], dict[str, object]] = {}
    for field, series_list in zip(_FIELDS, answers, strict=True):
        for s in series_list:
            device, point = s.tags.get("device", ""), s.tags.get("point", "")
            if device not in sel.devices or point not in caller.registry.points.get(device, {}):
                continue
            for t, v in zip(s.times, s.values, strict=True):
                key = (s.tags.get("site"), device, point, s.tags.get("kind"), t)
                events.setdefault(key, {})[field] = v
    out: list[StoredEvent] = []
    for (site, device, point, kind, t), fields in events.items():
        end = fields.get("end")
        # a row stored before incidents folded a device's series has no `points`: its lead only
        listed = [p for p in str(fields.get("points") or "").split(",") if p]
        points = [point, *[p for p in listed if p != point]]
        ended = int(end) if isinstance(end, int | float) and end > 0 else None
        peak = fields.get("peak_score")
        event_id = str(fields.get("event_id") or f"{device}-{t}")
        verdict, verdict_note = verdicts.get((event_id, t), (None, None))
        cause_ns = fields.get("cause_ns")
        cause = None
        if isinstance(cause_ns, int | float) and cause_ns > 0:
            cause = CommandCause(
                point=str(fields.get("cause_point") or ""),
                before=_number(fields.get("cause_from")),
                after=_number(fields.get("cause_to")),
                at=iso(int(cause_ns)),
            )
        event = AnomalyEvent(
            event_id=event_id,
            site=site,
            device=device,
            point=point,
            kind=kind or "",
            state=str(fields.get("state") or "open"),
            start=iso(t),
            end=iso(ended) if ended is not None else None,
            peak_score=float(peak) if isinstance(peak, int | float) else None,
            points=points,
            expected_low=_number(fields.get("expected_low")),
            expected_high=_number(fields.get("expected_high")),
            seen=_number(fields.get("seen")),
            cause=cause,
            verdict=verdict,
            verdict_note=verdict_note,
        )
        out.append(StoredEvent(event, t, ended))
    out.sort(key=lambda e: e.event.start, reverse=True)
    return out


async def _verdicts(
    state: AppState, where: dict[str, list[str]], start_ns: int, end_ns: int
) -> dict[tuple[str, int], tuple[Verdict, str]]:
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
    rows: dict[tuple[object, ...], dict[str, object]] = {}
    for field, series_list in zip(fields, answers, strict=True):
        for s in series_list:
            for t, v in zip(s.times, s.values, strict=True):
                rows.setdefault((*sorted(s.tags.items()), t), {})[field] = v
    out: dict[tuple[str, int], tuple[Verdict, str]] = {}
    for key, f in rows.items():
        verdict = f.get("verdict")
        if verdict == "confirmed" or verdict == "false_alarm":
            note = str(f.get("note") or "")
            out[(str(f.get("event_id")), int(str(key[-1])))] = (verdict, note)
    return out


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
