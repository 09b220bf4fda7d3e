"""The demo's demand-response event: one afternoon of the history, run by the API's own DR
service on the simulator's clock, through the real command path.

While the backfill steps the simulator's clock, the demo's API runs on that clock too
(`demo_clock`). When the clock reaches the event's start, the event is created through
`DemandResponse.create` as an operator's request would be: planned from the site's
configured flexibility, its commands recorded in the ledger, published to the broker, taken
by the office gateway's edge agent, written to the simulated HVAC over Modbus, read back and
acknowledged; the edge's holds restore the values at the event's end on the same clock. The
backfill waits for each outcome before the clock moves on. The report (baseline, shed kW and
kWh, avoided emissions) is then the API's verification of the stored meter readings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from datetime import time as Time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from firmware_sim.clock import SimClock
    from peakline_api.control import CommandService
    from peakline_api.dr import DemandResponse
    from peakline_edge.control import CommandExecutor

NS = 1_000_000_000
DR_SITE = "rt-office"
REDUCE_KW = 15.0
LOCAL_START = Time(14, 0)  # the afternoon peak the grid operator asks to shave
DURATION = timedelta(hours=2)
MARGIN = timedelta(hours=1)
SETTLE_TIMEOUT_S = 20.0
PENDING = ("accepted", "sent")


def event_window(
    history_start: datetime, now: datetime, timezone: str
) -> tuple[datetime, datetime] | None:
    """The most recent working day's 14:00-16:00 (the site's local time) inside the history,
    an hour clear of its start and of now; a weekend day when no working day fits; None when
    the history is shorter than that."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    days = [today - timedelta(days=back) for back in range(0, 31)]
    for working in (True, False):
        for day in days:
            if working and day.weekday() >= 5:
                continue
            start = datetime.combine(day, LOCAL_START, zone).astimezone(UTC)
            if start >= history_start + MARGIN and start + DURATION <= now - MARGIN:
                return start, start + DURATION
    return None


def demo_clock(clock: SimClock) -> Callable[[], int]:
    """The simulator's time while its clock is stepped (the backfill), the wall clock once it
    runs live: what the demo's API reads as now."""

    def now() -> int:
        return clock.now() if clock.manual else time.time_ns()

    return now


class HistoryEvent:
    """Creates the event when the stepped clock reaches its start, and holds the backfill
    until the edge has answered every command and restored every value due."""

    def __init__(
        self, dr: DemandResponse, commands: CommandService, start: datetime, end: datetime
    ) -> None:
        self.dr = dr
        self.commands = commands
        self.start_ns = int(start.timestamp()) * NS
        self.end_ns = int(end.timestamp()) * NS
        self.event_id: str | None = None
        self.unsettled = 0
        """Commands without an outcome when the clock had to move on (0 when all answered)."""

    async def at(self, t_ns: int, executors: Sequence[CommandExecutor]) -> None:
        """The simulator's clock was set to `t_ns`; the devices are polled after this."""
        if self.event_id is None and self.start_ns <= t_ns < self.end_ns:
            site = self.dr.registry.sites[DR_SITE]
            event = await self.dr.create(
                {
                    "name": "demo: afternoon peak",
                    "reduce_kw": REDUCE_KW,
                    "reduce_pct": None,
                    "start_ns": t_ns,
                    "end_ns": self.end_ns,
                    "marginal_g_per_kwh": None,
                },
                [site],
                "demo operator",
            )
            self.event_id = str(event["id"])
            await self._until(self._pending)
        if self.event_id is None:
            return
        await self.dr.tick()  # completes the event on the simulator's clock
        for executor in executors:
            executor.clock_moved()
        await self._until(lambda: sum(e.holds_due() for e in executors))
        self.unsettled = self._pending()

    def outcome(self) -> str:
        """One line for the status screen, after the backfill."""
        if self.event_id is None:
            return "not run: the history was shortened past its window"
        if self.unsettled:
            return f"run; {self.unsettled} commands without an outcome from the edge"
        return "run through the command path; results on the site page"

    def _pending(self) -> int:
        assert self.event_id is not None
        event = self.dr.ledger.event(self.event_id)
        ids = [ref["id"] for ref in event.get("commands", []) if ref.get("id")]
        return sum(1 for i in ids if self.dr.ledger.get(i).state.value in PENDING)

    async def _until(self, count: Callable[[], int]) -> None:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        # acks arrive over the broker into the ledger: a count to watch, no event to await
        while count() and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
