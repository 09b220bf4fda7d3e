"""Demand-response events as the API shows them: the stored event (a JSON document in the
command ledger, `dr.py`) with its times in ISO 8601, each command's ledger state and the
verified results so far (`DemandResponse.verification`).

Stored events are documents written over the platform's versions: a field an event was
stored without is left unset, and the endpoints leave unset fields out, so an older event
reads as it did. An event that cannot be read is listed as `unreadable` rather than failing
the listing."""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import BaseModel, Field

from peakline_api.access import Access
from peakline_api.dr import DemandResponse
from peakline_api.errors import UnknownId
from peakline_api.timespec import iso

Value = bool | int | float


class DrAction(BaseModel):
    device: str
    point: str
    kind: str
    value: Value
    previous: Value | None = Field(description="read before the event; written back at its end")
    expected_kw: float


class DrSitePlan(BaseModel):
    site: str
    target_kw: float
    expected_kw: float
    shortfall_kw: float
    skipped: list[str] = Field(description="flexibility that could not be used, with why")
    actions: list[DrAction]


class DrCommand(BaseModel):
    """A command the event sent (or could not: `error`), with its ledger state."""

    id: str | None
    device: str
    point: str | None = None
    error: str | None = None
    state: str | None = None
    reason: str | None = None
    readback: Value | str | None = None


class DrSiteResult(BaseModel):
    site: str
    baseline_method: str
    baseline_kw: float | None
    actual_kw: float | None
    shed_kw: float | None
    shed_kwh: float | None
    avoided_kg_co2e: float | None
    marginal_g_per_kwh: float | None
    factor_source: str | None
    coverage: float | None


class DrResults(BaseModel):
    """Baseline against metered load per site over the event so far."""

    slot_s: float
    complete: bool
    sites: list[DrSiteResult]
    total_shed_kwh: float | None
    total_avoided_kg_co2e: float | None
    window_start: str
    window_end: str


class DrEvent(BaseModel):
    id: str
    name: str
    sites: list[str]
    reduce_kw: float | None
    reduce_pct: float | None
    marginal_g_per_kwh: float | None
    state: str = Field(description="scheduled, active, completed or cancelled")
    created_by: str
    plan: list[DrSitePlan]
    commands: list[DrCommand]
    cancelled_by: str | None = None
    reverts: list[DrCommand] | None = None
    start: str
    end: str
    created: str
    results: DrResults | None


class DrEventUnreadable(BaseModel):
    """A stored event this version cannot read (logged); listed so that it is not hidden."""

    id: str | None
    state: str = "unreadable"
    results: None = None


class DrEventList(BaseModel):
    items: list[DrEvent | DrEventUnreadable]


async def event_out(dr: DemandResponse, event: dict[str, Any]) -> DrEvent:
    """The stored event as the API shows it (see the module doc)."""
    out: dict[str, Any] = {k: v for k, v in event.items() if not k.endswith("_ns")}
    out["start"] = iso(event["start_ns"])
    out["end"] = iso(event["end_ns"])
    out["created"] = iso(event["created_ns"])
    commands = []
    for ref in event.get("commands", []):
        if ref.get("id"):
            entry = dr.ledger.get(ref["id"])
            ref = {**ref, "state": entry.state.value, "reason": entry.reason}
            ref["readback"] = entry.readback
        commands.append(ref)
    out["commands"] = commands
    results = await dr.verification(event)
    if results is not None:
        for key in ("window_start_ns", "window_end_ns"):
            results[key.removesuffix("_ns")] = iso(results.pop(key))
    out["results"] = results
    return DrEvent.model_validate(out)


def visible(caller: Access, event: dict[str, Any]) -> bool:
    try:
        for s in event["sites"]:
            caller.site(s)
    except UnknownId:
        return False
    return True


def _stored_event(dr: DemandResponse, caller: Access, event_id: str) -> dict[str, Any]:
    """The stored event if the caller sees every one of its sites; 404 otherwise."""
    try:
        event = dr.ledger.event(event_id)
    except KeyError:
        raise UnknownId(f"no demand-response event {event_id!r}") from None
    if not visible(caller, event):
        raise UnknownId(f"no demand-response event {event_id!r}")
    return event


async def one_event(dr: DemandResponse, caller: Access, event_id: str) -> DrEvent:
    """One event the caller sees (every one of its sites); 404 otherwise."""
    return await event_out(dr, _stored_event(dr, caller, event_id))


async def cancel(dr: DemandResponse, caller: Access, event_id: str, issuer: str) -> DrEvent:
    """End an event the caller sees now and revert it (`DemandResponse.cancel`)."""
    return await event_out(dr, await dr.cancel(_stored_event(dr, caller, event_id), issuer))


async def event_list(dr: DemandResponse, caller: Access) -> DrEventList:
    """The events the caller sees, newest first."""
    items: list[DrEvent | DrEventUnreadable] = []
    for event in dr.ledger.events():
        if not visible(caller, event):
            continue
        try:
            items.append(await event_out(dr, event))
        except (ArithmeticError, ValueError, TypeError, KeyError, MemoryError) as exc:
            # one broken event never takes the city's listing down with it (a pydantic
            # ValidationError is a ValueError)
            structlog.get_logger("peakline.api.dr").warning(
                "dr event unreadable", id=event.get("id"), error=repr(exc)
            )
            items.append(DrEventUnreadable(id=event.get("id"), state="unreadable", results=None))
    return DrEventList(items=items)
