"""Operators' verdicts on anomaly events: confirmed or a false alarm (issue 18).

A verdict is stored in the time-series store as `anomaly_feedback` rows (storage schema), not
in the API's own databases: ingest's deriver reads the false alarms from there and keeps the
same pattern on each series of the incident from raising events again. One row per point of
the incident, at the incident's start, so a later verdict on the same event overwrites the
earlier one (the latest wins); posting the same verdict and note again changes nothing.
Each row carries what the deriver needs to recognise the pattern: the detector that peaked on
the point, its peak score and the band it read over during the incident (`dismissed_band`,
model units: a counter's rate in units/s).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from peakline_api.params import RangeDep
from peakline_api.services.anomalies import AnomalyEvent
from peakline_api.services.anomaly_feedback import (
    FeedbackSummary,
    find_event,
    verdict_rows,
)
from peakline_api.services.anomaly_feedback import (
    feedback_summary as summarise,
)
from peakline_api.state import Caller, OperatorCaller, State
from peakline_core.anomaly.feedback import Verdict

router = APIRouter(prefix="/api/v1", tags=["anomalies"])


class FeedbackIn(BaseModel):
    verdict: Verdict = Field(description="`confirmed` (a real fault) or `false_alarm`")
    note: str = Field(default="", max_length=2000, description="why, for the record")


EventId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,96}$", description="the event's id")]


@router.post(
    "/anomalies/{event_id}/feedback",
    response_model=AnomalyEvent,
    summary="Confirm an anomaly event or mark it a false alarm (operator)",
)
async def give_feedback(
    event_id: EventId, body: FeedbackIn, caller: OperatorCaller, state: State
) -> AnomalyEvent:
    """The latest verdict wins; the same verdict and note again is a no-op. A false alarm
    keeps the same pattern on the incident's series from raising events from now on."""
    now = state.clock_ns()
    stored = await find_event(caller, state, event_id, now)
    event = stored.event
    if event.verdict == body.verdict and event.verdict_note == body.note:
        return event
    rows = await verdict_rows(caller, state, stored, body.verdict, body.note, now)
    await state.store.write(rows)
    return event.model_copy(update={"verdict": body.verdict, "verdict_note": body.note})


@router.get(
    "/anomalies/feedback/summary",
    response_model=FeedbackSummary,
    summary="Confirmed and dismissed events per detector and per city",
)
async def feedback_summary(caller: Caller, state: State, tr: RangeDep) -> FeedbackSummary:
    """Counts over the events that started in the range (default: the last hour; e.g.
    `start=-30d`), the caller's cities only."""
    return await summarise(caller, state, tr.start_ns, tr.end_ns)
