"""What the demo shows in the terminal: which component runs where, in what state, and how
many readings have reached the store. `DemoStatus` is plain data the orchestrator updates;
`render` turns it into a rich table, `summary_line` into one line for logs and pipes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from rich.console import Group
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text


class State(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


NS = 1_000_000_000
ALERTS_NOTE = (
    "alerts: the example rules run (alerts page); no notification is sent, the example "
    "channels are placeholders"
)

_STYLE = {
    State.STARTING: "yellow",
    State.RUNNING: "green",
    State.STOPPING: "yellow",
    State.STOPPED: "dim",
    State.FAILED: "bold red",
}


@dataclass
class Component:
    name: str
    where: str
    state: State = State.STARTING
    detail: str = ""


@dataclass
class HistoryProgress:
    """Shared with the status display: where the backfill is, in simulated and wall time."""

    start_ns: int
    end_ns: int
    at_ns: int
    phase: str = "simulating"
    step_s: float = 300.0
    wall_s: float = 0.0
    shortened_from_ns: int | None = None
    """Set when the budget could not take the whole span: the requested start."""
    derive_at_ns: int | None = None

    @property
    def fraction(self) -> float:
        span = self.end_ns - self.start_ns
        return 1.0 if span <= 0 else min(1.0, max(0.0, (self.at_ns - self.start_ns) / span))

    @property
    def days(self) -> float:
        return (self.end_ns - self.start_ns) / NS / 86_400

    def describe(self) -> str:
        what = f"{self.days:.1f} simulated days"
        if self.shortened_from_ns is not None:
            asked = (self.end_ns - self.shortened_from_ns) / NS / 86_400
            what = f"{asked:.1f} simulated days shortened to {self.days:.1f} to fit the time budget"
        return what


@dataclass
class DemoStatus:
    """Shared by the orchestrator (writer) and the display (reader), in one event loop."""

    components: dict[str, Component] = field(default_factory=dict)
    readings_stored: int = 0
    series_stored: int = 0
    api_readings: int = 0
    """Points the API answered for /api/v1/readings/latest: proof the read side works."""
    started_mono: float = field(default_factory=time.monotonic)
    first_reading_after_s: float | None = None
    dashboard_url: str = ""
    api_key: str = ""
    problems: list[str] = field(default_factory=list)
    history: HistoryProgress | None = None

    def add(self, name: str, where: str) -> Component:
        self.components[name] = Component(name, where)
        return self.components[name]

    def set(self, name: str, state: State, detail: str = "") -> None:
        comp = self.components[name]
        comp.state = state
        if detail or state is State.RUNNING:
            comp.detail = detail

    def record_stored(self, readings: int, series: int) -> None:
        self.readings_stored, self.series_stored = readings, series
        if readings and self.first_reading_after_s is None:
            self.first_reading_after_s = time.monotonic() - self.started_mono

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started_mono

    @property
    def flowing(self) -> bool:
        """Data went the whole way: simulators -> edge -> broker -> ingest -> store -> API."""
        return self.readings_stored > 0 and self.api_readings > 0

    def failed(self) -> list[Component]:
        return [c for c in self.components.values() if c.state is State.FAILED]


def render(status: DemoStatus) -> Panel:
    """The live panel: one row per component, then the end-to-end counters."""
    table = Table(expand=True, box=None, pad_edge=False)
    table.add_column("component", style="bold", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("where")
    table.add_column("detail", overflow="fold")
    for comp in status.components.values():
        table.add_row(
            comp.name, Text(comp.state.value, style=_STYLE[comp.state]), comp.where, comp.detail
        )
    first = (
        f"first reading stored after {status.first_reading_after_s:.1f} s"
        if status.first_reading_after_s is not None
        else "waiting for the first reading"
    )
    counters = Text.assemble(
        ("readings stored: ", "bold"),
        (f"{status.readings_stored:,}", "bold green" if status.readings_stored else "yellow"),
        f" in {status.series_stored} series   ({first})   API answers for ",
        (f"{status.api_readings}", "bold"),
        " points",
    )
    lines: list[Text | Table | ProgressBar] = [table, Text(""), counters]
    if status.history is not None:
        h = status.history
        lines.append(
            Text.assemble(
                ("history: ", "bold"),
                f"{h.describe()}, {h.phase}, {100 * h.fraction:.0f} %, step {h.step_s:.0f} s, "
                f"{h.wall_s:.0f} s",
                _deriving(h),
            )
        )
        lines.append(ProgressBar(total=1.0, completed=h.fraction, width=60))
    if status.dashboard_url:
        lines.append(Text.assemble(("dashboard: ", "bold"), status.dashboard_url))
    if status.api_key:
        lines.append(
            Text.assemble(("API key (paste into the dashboard): ", "bold"), status.api_key)
        )
        lines.append(Text(ALERTS_NOTE, style="dim"))
    for problem in status.problems[-3:]:
        lines.append(Text(problem, style="red"))
    title = f"peakline demo - {status.elapsed_s:.0f} s - Ctrl-C stops everything cleanly"
    return Panel(Group(*lines), title=title, title_align="left")


def _deriving(h: HistoryProgress) -> str:
    if h.derive_at_ns is None:
        return ""
    behind_h = max(0.0, (time.time_ns() - h.derive_at_ns) / NS / 3600)
    return f"; deriver {behind_h:.1f} h behind"


def summary_line(status: DemoStatus) -> str:
    """One line for non-terminal output (CI logs, pipes)."""
    states = " ".join(f"{c.name}={c.state.value}" for c in status.components.values())
    history = ""
    if status.history is not None:
        h = status.history
        history = f" history={h.phase}:{100 * h.fraction:.0f}%{_deriving(h)}"
    return (
        f"[{status.elapsed_s:5.0f}s] readings stored={status.readings_stored} "
        f"series={status.series_stored} api_points={status.api_readings}{history} {states}"
    )
