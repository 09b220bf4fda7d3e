"""Alert rules, incidents and their notifications (issue 22), scoped to the caller's cities.

GET rules and incidents (filters city, site, state); GET one incident with its notification
history (each transition and channel: sent, retrying or given up, with the last error);
POST acknowledge (operator) with a comment. Unknown and invisible ids are both 404.

Rules: alerts.yaml's are read-only here (they are reviewed in version control and deployed
with the rest of the configuration; an API edit that overrode one would be invisible in the
file and lost or kept depending on which side wins a restart). Admins of a city create,
replace (PUT, `enabled: false` disables), and delete the API's own rules, kept in alerts.db;
each is validated by the `Rule` model and by `check_alerts`, the cross-checks that
`peakline config check` runs, against alerts.yaml's channels and rules.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from peakline_api.access import Access
from peakline_api.alerts.service import Alerts
from peakline_api.alerts.store import OutboxItem
from peakline_api.errors import ApiError, UnknownId
from peakline_api.params import PagingDep
from peakline_api.state import Caller, OperatorCaller, State, admin
from peakline_api.timespec import iso
from peakline_core.alerts import Incident, IncidentError
from peakline_core.config import check_alerts
from peakline_core.config.alerts import AlertsFile, Rule

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


class IncidentConflict(ApiError):
    status, code, title = 409, "incident-conflict", "Incident not open"


class RuleConflict(ApiError):
    status, code, title = 409, "rule-conflict", "Rule conflict"


class RuleInvalid(ApiError):
    status, code, title = 422, "invalid-rule", "Invalid alert rule"


AdminCaller = Annotated[Access, Depends(admin)]


def alerts(state: State) -> Alerts:
    return state.alerts


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
    source: Literal["file", "api"]
    updated: str | None
    updated_by: str | None


def _t(ns: int | None) -> str | None:
    return None if ns is None else iso(ns)


def incident_out(i: Incident) -> IncidentOut:
    return IncidentOut(
        id=i.id,
        rule=i.rule,
        subject=i.subject,
        city=i.city,
        site=i.site,
        severity=i.severity,
        state=i.state,
        opened=iso(i.opened_ns),
        acknowledged=_t(i.acknowledged_ns),
        acknowledged_by=i.acknowledged_by,
        comment=i.comment,
        resolved=_t(i.resolved_ns),
        reminders=i.reminders,
        summary=i.summary,
    )


def notification_out(n: OutboxItem) -> NotificationOut:
    status = (
        "sent"
        if n.sent_ns is not None
        else "failed"
        if n.dead
        else "retrying"
        if n.attempts
        else "pending"
    )
    return NotificationOut(
        transition=n.transition,
        channel=n.channel,
        status=status,
        attempts=n.attempts,
        created=iso(n.created_ns),
        sent=_t(n.sent_ns),
        next_attempt=iso(n.due_ns) if status in ("pending", "retrying") else None,
        last_error=n.last_error,
    )


def _cities(caller: Access, city: list[str]) -> list[str]:
    if city:
        return [caller.city(c).id for c in city]
    return [c.id for c in caller.visible_cities()]


def visible_incident(caller: Access, found: Alerts, incident_id: str) -> Incident:
    incident = found.db.get(incident_id) if len(incident_id) <= 200 else None
    if incident is None or not caller.sees_city(incident.city):
        raise UnknownId(f"no incident {incident_id!r}")
    return incident


def rule_out(r: Rule, source: Literal["file", "api"], found: Alerts) -> RuleOut:
    meta = found.db.rule_meta(r.id) if source == "api" else None
    return RuleOut(
        id=r.id,
        name=r.name,
        city=r.scope.city,
        district=r.scope.district,
        site=r.scope.site,
        device=r.scope.device,
        kind=r.condition.kind,
        severity=r.severity,
        channels=list(r.channels),
        repeat_minutes=r.repeat_minutes,
        enabled=r.enabled,
        condition=r.condition.model_dump(mode="json"),
        source=source,
        updated=None if meta is None else _t(meta[0]),
        updated_by=None if meta is None else meta[1],
    )


@router.get("/rules", response_model=list[RuleOut], summary="Alert rules of visible cities")
async def list_rules(
    caller: Caller,
    found: AlertsDep,
    city: Annotated[list[str], Query(max_length=100)] = [],  # noqa: B006
) -> list[RuleOut]:
    cities = set(_cities(caller, city))
    file_rules = [(r, "file") for r in found.evaluator.alerts.rules]
    api_rules = [(r, "api") for r in found.db.rules()]
    return [
        rule_out(r, source, found)  # type: ignore[arg-type]
        for r, source in file_rules + api_rules
        if r.scope.city in cities
    ]


def _validated(caller: Access, found: AlertsDep, state: State, rule: Rule) -> None:
    """The caller's city, then exactly the checks `peakline config check` runs on alerts.yaml,
    with this rule added after alerts.yaml's and the API's other rules."""
    caller.city(rule.scope.city)  # 404 when not visible: no other tenant's rules
    if any(r.id == rule.id for r in found.evaluator.alerts.rules):
        raise RuleConflict(f"rule {rule.id!r} is in alerts.yaml: read-only through the API")
    others = [r for r in found.db.rules() if r.id != rule.id]
    file = found.evaluator.alerts
    merged = AlertsFile.model_construct(channels=file.channels, rules=[*file.rules, *others, rule])
    at = f"rules[{len(merged.rules) - 1}]"
    issues = [
        {"path": "rule" + path[len(at) :], "message": message}
        for _, path, message in check_alerts(merged, state.registry.config)
        if path == at or path.startswith(at + ".")
    ]
    if issues:
        detail = "; ".join(f"{i['path']}: {i['message']}" for i in issues)
        raise RuleInvalid(detail, issues=issues)


def _own_rule(caller: Access, found: Alerts, rule_id: str) -> Rule:
    """An API rule of a city the caller sees (404 otherwise; 409 for alerts.yaml's)."""
    in_file = next((r for r in found.evaluator.alerts.rules if r.id == rule_id), None)
    if in_file is not None and caller.sees_city(in_file.scope.city):
        raise RuleConflict(f"rule {rule_id!r} is in alerts.yaml: read-only through the API")
    rule = next((r for r in found.db.rules() if r.id == rule_id), None)
    if rule is None or not caller.sees_city(rule.scope.city):
        raise UnknownId(f"no rule {rule_id!r}")
    return rule


@router.post(
    "/rules", response_model=RuleOut, status_code=201, summary="Create an alert rule (admin)"
)
async def create_rule(rule: Rule, caller: AdminCaller, found: AlertsDep, state: State) -> RuleOut:
    _validated(caller, found, state, rule)
    if not found.db.put_rule(rule, caller.key.name, state.clock_ns(), create=True):
        raise RuleConflict(f"rule {rule.id!r} exists: replace it with PUT")
    return rule_out(rule, "api", found)


@router.put(
    "/rules/{rule_id}",
    response_model=RuleOut,
    summary="Replace an API alert rule (admin); enabled: false disables it",
)
async def replace_rule(
    rule_id: str, rule: Rule, caller: AdminCaller, found: AlertsDep, state: State
) -> RuleOut:
    _own_rule(caller, found, rule_id)
    if rule.id != rule_id:
        raise RuleInvalid(f"the body's id {rule.id!r} is not {rule_id!r}")
    _validated(caller, found, state, rule)
    found.db.put_rule(rule, caller.key.name, state.clock_ns(), create=False)
    return rule_out(rule, "api", found)


@router.delete("/rules/{rule_id}", status_code=204, summary="Delete an API alert rule (admin)")
async def delete_rule(rule_id: str, caller: AdminCaller, found: AlertsDep) -> Response:
    _own_rule(caller, found, rule_id)
    found.db.delete_rule(rule_id)
    return Response(status_code=204)


@router.get("/incidents", response_model=list[IncidentOut], summary="Incidents, newest first")
async def list_incidents(
    caller: Caller,
    found: AlertsDep,
    paging: PagingDep,
    city: Annotated[list[str], Query(max_length=100)] = [],  # noqa: B006
    site: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")] = None,
    state: Literal["open", "acknowledged", "resolved"] | None = None,
) -> list[IncidentOut]:
    if site is not None:
        caller.site(site)  # 404 when not visible
    rows = found.db.search(
        _cities(caller, city), site=site, state=state, limit=paging.limit, offset=paging.offset
    )
    return [incident_out(i) for i in rows]


@router.get(
    "/incidents/{incident_id}", response_model=IncidentDetail, summary="One incident, history"
)
async def get_incident(
    incident_id: str,
    caller: Caller,
    found: AlertsDep,
) -> IncidentDetail:
    incident = visible_incident(caller, found, incident_id)
    return IncidentDetail(
        **incident_out(incident).model_dump(),
        notifications=[notification_out(n) for n in found.db.outbox(incident.id)],
    )


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
) -> IncidentOut:
    incident = visible_incident(caller, found, incident_id)
    try:
        done = found.evaluator.acknowledge(
            incident, caller.key.name, body.comment, state.clock_ns()
        )
    except IncidentError as exc:
        raise IncidentConflict(str(exc)) from None
    return incident_out(done.incident)
