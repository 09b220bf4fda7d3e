"""Alert rules, incidents and their notifications (issue 22), scoped to the caller's cities.

GET rules and incidents (filters city, site, state); GET one incident with its notification
history (each transition and channel: sent, retrying or given up, with the last error);
POST acknowledge (operator) with a comment. Unknown and invisible ids are both 404.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from peakline_api.access import Access
from peakline_api.alerts.service import Alerts
from peakline_api.alerts.store import OutboxItem
from peakline_api.errors import ApiError, UnknownId
from peakline_api.state import Caller, OperatorCaller, State
from peakline_api.timespec import iso
from peakline_core.alerts import Incident, IncidentError

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


class IncidentConflict(ApiError):
    status, code, title = 409, "incident-conflict", "Incident not open"


def alerts(request: Request) -> Alerts:
    found: Alerts = request.app.state.alerts
    return found


AlertsDep = Annotated[Alerts, Depends(alerts)]


class IncidentOut(BaseModel):
    id: str
    rule: str
    subject: str
    city: str
    site: str | None
    severity: str
    state: Literal["open", "acknowledged", "resolved"]
    opened: str
    acknowledged: str | None
    acknowledged_by: str | None
    comment: str | None
    resolved: str | None
    reminders: int
    summary: dict[str, str | float]


class NotificationOut(BaseModel):
    transition: str
    channel: str
    status: Literal["pending", "sent", "retrying", "failed"]
    attempts: int
    created: str
    sent: str | None
    next_attempt: str | None
    last_error: str | None


class IncidentDetail(IncidentOut):
    notifications: list[NotificationOut]


class AcknowledgeIn(BaseModel):
    comment: str = Field(default="", max_length=2000)


class RuleOut(BaseModel):
    id: str
    name: str
    city: str
    district: str | None
    site: str | None
    device: str | None
    kind: str
    severity: str
    channels: list[str]
    repeat_minutes: float | None
    enabled: bool
    condition: dict[str, Any]


def _t(ns: int | None) -> str | None:
    return None if ns is None else iso(ns)


def incident_out(i: Incident) -> dict[str, Any]:
    return {
        "id": i.id,
        "rule": i.rule,
        "subject": i.subject,
        "city": i.city,
        "site": i.site,
        "severity": i.severity,
        "state": i.state,
        "opened": iso(i.opened_ns),
        "acknowledged": _t(i.acknowledged_ns),
        "acknowledged_by": i.acknowledged_by,
        "comment": i.comment,
        "resolved": _t(i.resolved_ns),
        "reminders": i.reminders,
        "summary": i.summary,
    }


def notification_out(n: OutboxItem) -> dict[str, Any]:
    status = (
        "sent"
        if n.sent_ns is not None
        else "failed"
        if n.dead
        else "retrying"
        if n.attempts
        else "pending"
    )
    return {
        "transition": n.transition,
        "channel": n.channel,
        "status": status,
        "attempts": n.attempts,
        "created": iso(n.created_ns),
        "sent": _t(n.sent_ns),
        "next_attempt": iso(n.due_ns) if status in ("pending", "retrying") else None,
        "last_error": n.last_error,
    }


def _cities(caller: Access, city: list[str]) -> list[str]:
    if city:
        return [caller.city(c).id for c in city]
    return [c.id for c in caller.visible_cities()]


def visible_incident(caller: Access, found: Alerts, incident_id: str) -> Incident:
    incident = found.db.get(incident_id) if len(incident_id) <= 200 else None
    if incident is None or not caller.sees_city(incident.city):
        raise UnknownId(f"no incident {incident_id!r}")
    return incident


@router.get("/rules", response_model=list[RuleOut], summary="Alert rules of visible cities")
async def list_rules(
    caller: Caller,
    found: AlertsDep,
    city: Annotated[list[str], Query(max_length=100)] = [],  # noqa: B006
) -> Any:
    cities = set(_cities(caller, city))
    return [
        {
            "id": r.id,
            "name": r.name,
            "city": r.scope.city,
            "district": r.scope.district,
            "site": r.scope.site,
            "device": r.scope.device,
            "kind": r.condition.kind,
            "severity": r.severity,
            "channels": list(r.channels),
            "repeat_minutes": r.repeat_minutes,
            "enabled": r.enabled,
            "condition": r.condition.model_dump(mode="json"),
        }
        for r in found.evaluator.alerts.rules
        if r.scope.city in cities
    ]


@router.get("/incidents", response_model=list[IncidentOut], summary="Incidents, newest first")
async def list_incidents(
    caller: Caller,
    found: AlertsDep,
    city: Annotated[list[str], Query(max_length=100)] = [],  # noqa: B006
    site: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = None,
    state: Literal["open", "acknowledged", "resolved"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Any:
    if site is not None:
        caller.site(site)  # 404 when not visible
    rows = found.db.search(
        _cities(caller, city), site=site, state=state, limit=limit, offset=offset
    )
    return [incident_out(i) for i in rows]


@router.get(
    "/incidents/{incident_id}", response_model=IncidentDetail, summary="One incident, history"
)
async def get_incident(
    incident_id: str,
    caller: Caller,
    found: AlertsDep,
) -> Any:
    incident = visible_incident(caller, found, incident_id)
    return {
        **incident_out(incident),
        "notifications": [notification_out(n) for n in found.db.outbox(incident.id)],
    }


@router.post(
    "/incidents/{incident_id}/acknowledge",
    response_model=IncidentOut,
    summary="Acknowledge an open incident (stops reminders)",
)
async def acknowledge_incident(
    incident_id: str,
    body: AcknowledgeIn,
    caller: OperatorCaller,
    found: AlertsDep,
    state: State,
) -> Any:
    incident = visible_incident(caller, found, incident_id)
    try:
        done = found.evaluator.acknowledge(
            incident, caller.key.name, body.comment, state.clock_ns()
        )
    except IncidentError as exc:
        raise IncidentConflict(str(exc)) from None
    return incident_out(done.incident)
