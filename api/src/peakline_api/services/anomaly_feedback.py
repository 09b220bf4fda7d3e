"""Operators' verdicts on anomaly events: finding the event, the rows a verdict is stored as
(one per point of the incident, with the pattern the deriver recognises) and the counts per
detector and per city (routers/anomaly_feedback.py says how verdicts are stored)."""

from __future__ import annotations

import asyncio
from collections import Counter

import numpy as np
from pydantic import BaseModel, Field

from peakline_api.access import Access
from peakline_api.errors import UnknownId
from peakline_api.params import Filters
from peakline_api.services.anomalies import AnomalyEvent, StoredEvent, anomaly_events
from peakline_api.state import AppState
from peakline_api.timespec import iso
from peakline_core.anomaly.feedback import Verdict, dismissed_band
from peakline_core.storage import Row, Series, SeriesQuery
from peakline_core.storage.schema import ANOMALY_FEEDBACK, ANOMALY_SCORE, READING
from peakline_core.storage.store import FieldValue

NS = 1_000_000_000


LOOKBACK_NS = 400 * 86400 * NS
"""How far back an event id is looked for (events are found by id among those started since)."""


_NO_FILTER = Filters([], [], [], [], [])


class VerdictCount(BaseModel):
    key: str = Field(description="the detector (kind) or the city id")
    events: int = Field(
        description="events that started in the range (those a command explains not included)"
    )
    confirmed: int
    false_alarm: int
    explained: int = Field(
        default=0, description="events a command explains (issue 18): no alarm, no verdict asked"
    )


class FeedbackSummary(BaseModel):
    start: str
    end: str
    by_kind: list[VerdictCount]
    by_city: list[VerdictCount]


async def find_event(caller: Access, state: AppState, event_id: str, now: int) -> StoredEvent:
    """The event among those the caller sees (an unknown or foreign id: the same 404)."""
    for e in await anomaly_events(caller, state, _NO_FILTER, now - LOOKBACK_NS, now + 1):
        if e.event.event_id == event_id:
            return e
    raise UnknownId(f"no anomaly event {event_id!r}")


async def verdict_rows(
    caller: Access, state: AppState, stored: StoredEvent, verdict: Verdict, note: str, now: int
) -> list[Row]:
    """One row per point of the incident, with the pattern the deriver recognises."""
    event = stored.event
    start = stored.start_ns
    end = stored.end_ns + 1 if stored.end_ns else now + 1
    where = {"site": [event.site], "device": [event.device], "point": event.points}
    values, scores, detectors = await asyncio.gather(
        *(
            state.store.query(SeriesQuery(m, f, start, end, where=where, limit=100_000))
            for m, f in ((READING, "value"), (ANOMALY_SCORE, "score"), (ANOMALY_SCORE, "detector"))
        )
    )
    read = {s.tags.get("point"): s for s in values}
    scored = {s.tags.get("point"): s for s in scores}
    named = {s.tags.get("point"): dict(zip(s.times, s.values, strict=True)) for s in detectors}
    infos = caller.registry.points.get(event.device, {})
    rows = []
    for point in event.points:
        info = infos.get(point)
        counter = info is not None and info.counter
        detector, peak = event.kind, float(event.peak_score or 1.0)
        s = scored.get(point)
        if s is not None and s.values:
            sc = np.asarray([v if isinstance(v, int | float) else np.nan for v in s.values])
            if np.isfinite(sc).any():
                at = int(np.nanargmax(sc))
                peak = float(sc[at])
                detector = str(named.get(point, {}).get(s.times[at], detector))
        band = _band(read.get(point), counter, event if point == event.point else None)
        fields: dict[str, FieldValue] = {
            "event_id": event.event_id,
            "verdict": verdict,
            "note": note,
            "by": caller.key.name,
            "detector": detector,
            "given": now,
            "lead": int(point == event.point),
            "peak": peak,
        }
        if np.isfinite(band[0]) and np.isfinite(band[1]):
            fields["low"], fields["high"] = band
        tags = {"site": event.site, "device": event.device, "point": point, "kind": event.kind}
        rows.append(Row(ANOMALY_FEEDBACK, tags, fields, start))
    return rows


def _band(series: Series | None, counter: bool, lead: AnomalyEvent | None) -> tuple[float, float]:
    """What the point read over during the incident, in model units (a counter: units/s)."""
    times = np.asarray([] if series is None else series.times, dtype=np.int64)
    raw = [] if series is None else series.values
    vals = np.asarray([v if isinstance(v, int | float) else np.nan for v in raw], np.float64)
    per = 1.0
    if counter:  # the stored event speaks of a counter's rate per hour
        per = 3600.0
        ok = np.isfinite(vals)
        times, vals = times[ok], vals[ok]
        dt = np.diff(times) / NS
        vals = np.diff(vals)[dt > 0] / dt[dt > 0]
    if lead is None:
        return dismissed_band(vals.tolist())
    seen, low, high = (
        None if v is None else v / per for v in (lead.seen, lead.expected_low, lead.expected_high)
    )
    return dismissed_band(vals.tolist(), seen, low, high)


async def feedback_summary(
    caller: Access, state: AppState, start_ns: int, end_ns: int
) -> FeedbackSummary:
    """Events that started in [start, end) and their verdicts, counted per detector (kind)
    and per city, the caller's cities only. An event a command explains is no alarm: it is
    counted as `explained`, not among `events` (nor as a false alarm)."""
    events = await anomaly_events(caller, state, _NO_FILTER, start_ns, end_ns)
    cities = caller.registry
    by_kind: dict[str, Counter[str]] = {}
    by_city: dict[str, Counter[str]] = {}
    for e in events:
        ev = e.event
        for key, table in ((ev.kind, by_kind), (cities.city_of_site(ev.site), by_city)):
            c = table.setdefault(key, Counter())
            if ev.cause is not None:
                c["explained"] += 1
                continue
            c["events"] += 1
            if ev.verdict:
                c[ev.verdict] += 1

    def counts(table: dict[str, Counter[str]]) -> list[VerdictCount]:
        return [
            VerdictCount(key=k, events=c["events"], confirmed=c["confirmed"],
                         false_alarm=c["false_alarm"], explained=c["explained"])
            for k, c in sorted(table.items())
        ]  # fmt: skip

    return FeedbackSummary(
        start=iso(start_ns), end=iso(end_ns), by_kind=counts(by_kind), by_city=counts(by_city)
    )
