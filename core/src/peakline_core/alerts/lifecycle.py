"""The incident lifecycle: open -> acknowledged -> resolved, one incident per (rule, subject).

Pure: the evaluator passes what it observed (the condition firing, clear, or undecided inside
the hysteresis band) and the time; these functions return the new incident and the
transitions to notify. Times are UTC ns.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from peakline_core.errors import PeaklineError

State = Literal["open", "acknowledged", "resolved"]
Observation = Literal["firing", "clear", "hold"]
"""firing: the condition holds; clear: it is cleared past the hysteresis band; hold: neither
(inside the band, or no data to decide): the incident keeps its state."""
TransitionKind = Literal["opened", "acknowledged", "resolved", "reminder"]

NS_PER_MINUTE = 60_000_000_000


class IncidentError(PeaklineError):
    """A lifecycle step that is not allowed (acknowledging a resolved incident...)."""


@dataclass(frozen=True)
class Incident:
    """One incident of a rule for one subject (a device, a site, a city...)."""

    id: str
    rule: str
    subject: str
    city: str
    site: str | None
    severity: str
    state: State
    opened_ns: int
    summary: dict[str, str | float]
    acknowledged_ns: int | None = None
    acknowledged_by: str | None = None
    comment: str | None = None
    resolved_ns: int | None = None
    last_notified_ns: int | None = None
    reminders: int = 0


@dataclass(frozen=True)
class Transition:
    """A change to notify. ``key`` is unique per (incident, transition): the outbox's
    idempotency key, so a restart never sends the same transition twice."""

    incident: Incident
    kind: TransitionKind
    at_ns: int

    @property
    def key(self) -> str:
        suffix = f"{self.kind}-{self.incident.reminders}" if self.kind == "reminder" else self.kind
        return f"{self.incident.id}:{suffix}"


def incident_id(rule: str, subject: str, opened_ns: int) -> str:
    """Stable id: the same (rule, subject) opening at the same instant is the same incident."""
    return f"{rule}.{subject}.{opened_ns // 1_000_000_000}"


def observe(
    current: Incident | None,
    observation: Observation,
    *,
    rule: str,
    subject: str,
    city: str,
    site: str | None,
    severity: str,
    now_ns: int,
    summary: dict[str, str | float] | None = None,
) -> tuple[Incident | None, list[Transition]]:
    """Apply one evaluation to the live incident of (rule, subject), if any.

    A firing condition opens an incident when none is live; a clear one resolves the live
    incident; `hold` changes nothing. A resolved incident is history: the next firing opens
    a new one.
    """
    live = current if current is not None and current.state != "resolved" else None
    if observation == "firing" and live is None:
        opened = Incident(
            id=incident_id(rule, subject, now_ns),
            rule=rule,
            subject=subject,
            city=city,
            site=site,
            severity=severity,
            state="open",
            opened_ns=now_ns,
            summary=dict(summary or {}),
        )
        return opened, [Transition(opened, "opened", now_ns)]
    if observation == "clear" and live is not None:
        resolved = dataclasses.replace(
            live, state="resolved", resolved_ns=now_ns, summary={**live.summary, **(summary or {})}
        )
        return resolved, [Transition(resolved, "resolved", now_ns)]
    if observation == "firing" and live is not None and summary:
        return dataclasses.replace(live, summary={**live.summary, **summary}), []
    return live, []


def acknowledge(incident: Incident, *, by: str, comment: str, now_ns: int) -> Transition:
    """An operator takes the incident: reminders stop; it still resolves by itself."""
    if incident.state != "open":
        raise IncidentError(f"incident {incident.id} is {incident.state}, not open")
    acked = dataclasses.replace(
        incident, state="acknowledged", acknowledged_ns=now_ns, acknowledged_by=by, comment=comment
    )
    return Transition(acked, "acknowledged", now_ns)


def reminder_due(
    incident: Incident, repeat_minutes: float | None, now_ns: int
) -> Transition | None:
    """A reminder for an open (not acknowledged) incident once the repeat interval passed
    since the last notification."""
    if repeat_minutes is None or incident.state != "open" or incident.last_notified_ns is None:
        return None
    if now_ns - incident.last_notified_ns < repeat_minutes * NS_PER_MINUTE:
        return None
    bumped = dataclasses.replace(
        incident, reminders=incident.reminders + 1, last_notified_ns=now_ns
    )
    return Transition(bumped, "reminder", now_ns)
