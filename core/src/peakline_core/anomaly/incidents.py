"""One incident, one event: per-series events folded into one incident per device.

A fault that hits every register of a device at once (a meter reading x5, a bus error)
opens an event on each of its series. `IncidentBook.fold` turns them into one incident per
group (a device: `site/device`): the first series to open one leads it (the incident keeps
its point, kind and start, so its stored row is one point however many series join); a
series of the group whose event starts within `join_s` of the incident's start, or of its
members' latest hard verdict (limit, rate, counter: the fault is still going on), joins
it (`points`); any other event of the group starts an incident of its own (an unrelated
fault an hour into another one is not the same incident). An incident closes when its last
member closes (`end` the latest member end, `peak_score` the highest).

What was expected and what was seen travel with the incident: the lead's expected range
and the value it read at its peak, filled in by the caller (`Incident.expected_low` etc.).

An incident of statistical detectors that starts in the settle time of a command on its
device (commands.py: a writable point changed value) is *explained*: `cause` names the
change. `fold` asks `cause_of(group, start_ns)` when an incident opens; `explain` asks again
for the open incidents of devices whose change was noted after they were folded (a reading
of the same poll stamped a moment earlier). A member event of another kind (a hard verdict,
missing readings) joining the incident takes the explanation away for good: that is a fault
whatever was ordered.

Pure bookkeeping, no I/O; the open incidents round-trip through `to_json`/`from_json`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from peakline_core.anomaly.commands import EXPLAINABLE, CommandChange
from peakline_core.anomaly.events import AnomalyEvent

CauseOf = Callable[[str, int], CommandChange | None]
"""(group, incident start UTC ns) -> the command change that explains it, or None."""


@dataclass(slots=True)
class Incident:
    """One incident on one device. Times UTC ns; `end_ns` None while open. `expected_low`,
    `expected_high` and `seen` are in the lead series' model units (a counter's rate per
    hour), None when not known."""

    group: str
    lead: str
    kind: str
    start_ns: int
    end_ns: int | None
    peak_score: float
    state: Literal["open", "closed"]
    points: list[str] = field(default_factory=list)
    members: set[str] = field(default_factory=set)
    expected_low: float | None = None
    expected_high: float | None = None
    seen: float | None = None
    last_hot_ns: int = 0
    cause: CommandChange | None = None
    explainable: bool = True

    def snapshot(self) -> Incident:
        return replace(self, points=list(self.points), members=set(self.members))


def _end(ev: AnomalyEvent) -> int:
    return ev.end_ns if ev.end_ns is not None else ev.start_ns


def split_key(series: str) -> tuple[str, str]:
    """`site/device/point` -> (`site/device`, `point`)."""
    group, _, point = series.rpartition("/")
    return group, point


class IncidentBook:
    """The open incidents per group, folding each batch's per-series events into them."""

    def __init__(self, join_s: float = 10.0) -> None:
        self.join_ns = int(join_s * 1e9)
        self.open: dict[str, list[Incident]] = {}

    def incidents(self) -> list[Incident]:
        return [i for group in self.open.values() for i in group]

    def heat(self, hot: dict[str, int]) -> None:
        """Note each series' latest hard verdict at the event-close score or above (UTC ns)."""
        for inc in self.incidents():
            for point in inc.members:
                t = hot.get(f"{inc.group}/{point}")
                if t is not None and t > inc.last_hot_ns:
                    inc.last_hot_ns = t

    def _home(self, group: str, point: str, ev: AnomalyEvent) -> Incident:
        incidents = self.open.setdefault(group, [])
        for inc in incidents:
            if point in inc.members:
                return inc
        for inc in reversed(incidents):
            near = abs(ev.start_ns - inc.start_ns) <= self.join_ns
            if near or ev.start_ns - inc.last_hot_ns <= self.join_ns:
                return inc
        inc = Incident(group, point, ev.kind, ev.start_ns, None, 0.0, "open")
        inc.last_hot_ns = ev.start_ns
        incidents.append(inc)
        return inc

    def fold(
        self, events: Iterable[AnomalyEvent], cause_of: CauseOf | None = None
    ) -> list[tuple[Incident, AnomalyEvent]]:
        """Fold one batch's events (any order); returns each incident created, changed or
        closed by it (a snapshot, last state wins) with the event that touched it last. A new
        incident is explained by `cause_of` (see the module doc)."""
        events = list(events)
        touched: dict[tuple[str, int], tuple[Incident, AnomalyEvent]] = {}
        # An event is its open at its start and, once closed, its close at its end (an event
        # opened and closed within one batch is both): opens before closes at the same time,
        # so the events of one poll that each open and close in the batch are one incident,
        # and a member's close follows its own open (an open seen before is a no-op).
        steps = [(ev.start_ns, False, i) for i, ev in enumerate(events)]
        steps += [(_end(ev), True, i) for i, ev in enumerate(events) if ev.state == "closed"]
        for _, closing, i in sorted(steps):
            ev = events[i]
            group, point = split_key(ev.series)
            inc = self._home(group, point, ev)
            if ev.kind not in EXPLAINABLE:
                inc.explainable, inc.cause = False, None
            elif not inc.points and cause_of is not None:  # a new incident
                inc.cause = cause_of(group, inc.start_ns)
            if point not in inc.points:
                inc.points.append(point)
            inc.peak_score = max(inc.peak_score, float(ev.peak_score))
            if not closing:
                inc.members.add(point)
            else:
                inc.members.discard(point)
                end = _end(ev)
                inc.end_ns = end if inc.end_ns is None else max(inc.end_ns, end)
                inc.last_hot_ns = max(inc.last_hot_ns, end)
            if not inc.members:
                inc.state = "closed"
                self.open[group].remove(inc)
                if not self.open[group]:
                    del self.open[group]
            touched[(group, inc.start_ns)] = (inc, ev)
        return [(inc.snapshot(), ev) for inc, ev in touched.values()]

    def explain(self, groups: Iterable[str], cause_of: CauseOf) -> list[Incident]:
        """Explain the open, unexplained incidents of `groups` that `cause_of` now explains
        (changes noted after they were folded); returns snapshots of those it explained."""
        out = []
        for group in groups:
            for inc in self.open.get(group, []):
                if inc.cause is None and inc.explainable:
                    inc.cause = cause_of(group, inc.start_ns)
                    if inc.cause is not None:
                        out.append(inc.snapshot())
        return out

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {
                "group": i.group,
                "lead": i.lead,
                "kind": i.kind,
                "start": i.start_ns,
                "end": i.end_ns,
                "peak": i.peak_score,
                "points": i.points,
                "members": sorted(i.members),
                "expected": [i.expected_low, i.expected_high],
                "seen": i.seen,
                "last_hot": i.last_hot_ns,
                "cause": None
                if i.cause is None
                else [i.cause.point, i.cause.before, i.cause.after, i.cause.ts_ns],
                "explainable": i.explainable,
            }
            for i in self.incidents()
        ]

    @classmethod
    def from_json(cls, data: list[dict[str, Any]]) -> IncidentBook:
        book = cls()
        for d in data:
            low, high = d.get("expected", [None, None])
            inc = Incident(
                str(d["group"]),
                str(d["lead"]),
                str(d["kind"]),
                int(d["start"]),
                None if d.get("end") is None else int(d["end"]),
                float(d["peak"]),
                "open",
                [str(p) for p in d["points"]],
                {str(p) for p in d["members"]},
                low,
                high,
                d.get("seen"),
                int(d.get("last_hot", d["start"])),
                None
                if d.get("cause") is None
                else CommandChange(
                    str(d["cause"][0]),
                    float(d["cause"][1]),
                    float(d["cause"][2]),
                    int(d["cause"][3]),
                ),
                bool(d.get("explainable", True)),
            )
            book.open.setdefault(inc.group, []).append(inc)
        return book
