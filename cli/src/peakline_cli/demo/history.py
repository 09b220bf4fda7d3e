"""The demo's history: before going live, the simulated district is run through the past days
at accelerated time, through the real path (firmware-sim Modbus and MQTT -> edge agents ->
spool -> MQTT uplink -> broker -> ingest -> store), so the dashboard opens on a week of data.

How: firmware-sim's clock is manual during the backfill. Each step sets it forward and every
edge agent polls all its devices once (`EdgeAgent.poll_all`), stamping readings with the
simulator's clock (the agents are built with `clock_ns=sim.clock.now`). The step is about
1/700 of the span, between `MIN_STEP_S` (5-minute data) and `MAX_STEP_S` (the deriver's gap
limit); when the measured cost per step says the span cannot fit the wall-time budget, the
start skips ahead once and the span is shortened (the status and the output say so).
Ingest stores the history without a deriver; the live ingest's deriver then starts at the
history's start (`Deriver.start_at`, as `peakline-ingest --derive-from` does) and catches up
in order, anomaly scores included.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from peakline_cli.demo.status import DemoStatus, HistoryProgress, State
from peakline_core.config import PlatformConfig

if TYPE_CHECKING:
    from firmware_sim.runtime import Simulation
    from peakline_cli.demo.dr_event import HistoryEvent
    from peakline_edge.agent import EdgeAgent
    from peakline_ingest.service import IngestService

NS = 1_000_000_000
MIN_STEP_S = 300.0  # five-minute data, as utility interval meters give
MAX_STEP_S = 900.0  # the deriver's gap limit: coarser steps would make energy "estimated"
TARGET_STEPS = 700  # ~25 s of polling and ~15 s of deriving on the 2-core reference machine
MAX_SPOOLED_READINGS = 30_000  # backpressure: polling waits while the uplinks catch up
WARMUP_STEPS = 10
MEASURED_STEPS = 40  # steps averaged before the step (or the span) is adapted
DRAIN_SHARE = 0.15  # of the budget kept for the uplinks and ingest to finish after polling


def history_faults(start: datetime, days: float, known: set[str]) -> list[dict[str, object]]:
    """A few faults spread over the history, for the detectors and reports to find: a meter
    power spike, a PV inverter silent for two hours, HVAC running in an empty school at night,
    a stuck CO2 reading. Absolute start times, only for devices the scenario has."""
    span_s = days * 86_400

    def at(fraction: float) -> str:
        when = start.timestamp() + fraction * span_s
        return datetime.fromtimestamp(when, tz=UTC).isoformat()

    faults: list[dict[str, object]] = [
        {"kind": "spike", "device": "office-meter", "point": "power_total",
         "start": at(0.30), "duration": "45m", "magnitude": 4.0},
        {"kind": "dropout", "device": "school-pv", "start": at(0.45), "duration": "2h"},
        {"kind": "hvac_waste", "device": "school-hvac", "start": at(0.62), "duration": "6h"},
        {"kind": "flatline", "device": "school-air", "point": "co2",
         "start": at(0.80), "duration": "5h"},
    ]  # fmt: skip
    return [f for f in faults if f["device"] in known]


@contextlib.asynccontextmanager
async def _agents(
    config: PlatformConfig, sim: Simulation, state_dir: Path
) -> AsyncIterator[list[EdgeAgent]]:
    """The edge agents on the simulator's clock, polled by the caller (no schedules). Their
    spools are the live agents' spools, so sequence numbers continue across the switch."""
    from peakline_edge.agent import EdgeAgent

    agents = [
        EdgeAgent(config, agent_id, state_dir / "edge" / agent_id, clock_ns=sim.clock.now)
        for agent_id in sorted(config.agents)
        if config.devices_of(agent_id)
    ]
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(a.run(stop, scheduled=False), name=f"history {a.agent.id}")
        for a in agents
    ]
    try:
        yield agents
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            raise RuntimeError(f"{task.get_name()} failed") from task.exception()


async def backfill(
    sim: Simulation,
    config: PlatformConfig,
    ingest: IngestService,
    state_dir: Path,
    status: DemoStatus,
    progress: HistoryProgress,
    budget_s: float,
    event: HistoryEvent | None = None,
) -> None:
    """Step the simulator's clock from `progress.start_ns` to the present, polling every
    device at each step, then wait until ingest stored every batch the agents published.
    `event`: a demand-response event run at its time in the history (`dr_event`)."""
    began = time.monotonic()
    status.set("history", State.RUNNING, "simulating the past days")
    publisher = sim.publisher  # MQTT sensors and grid signals
    if publisher is not None:
        with contextlib.suppress(TimeoutError):  # it says why on the status line if not
            await asyncio.wait_for(publisher.connected.wait(), 10)
    async with _agents(config, sim, state_dir) as agents:
        t = progress.start_ns
        progress.step_s = plan_step_s((progress.end_ns - t) / NS)
        polling_budget = budget_s * (1 - DRAIN_SHARE)
        steps, measured_from = 0, 0.0
        while True:
            end = time.time_ns()  # the present moves while we catch up to it
            progress.end_ns = end
            if t >= end:
                break
            sim.clock.set(t)
            if publisher is not None:
                publisher.clock_moved()
            if event is not None:
                await event.at(t, [a.executor for a in agents])
            progress.at_ns = t
            await asyncio.gather(*(a.poll_all() for a in agents))
            # backpressure: wait while the uplinks drain (a count, no event to await)
            while sum(a.spool.pending_readings for a in agents) > MAX_SPOOLED_READINGS:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            steps += 1
            progress.wall_s = time.monotonic() - began
            if steps <= WARMUP_STEPS:
                # first connections and imports make the first steps slow: not a measure
                measured_from = time.monotonic()
            if steps < WARMUP_STEPS + MEASURED_STEPS:
                t += int(progress.step_s * NS)
                continue
            cost_s = (time.monotonic() - measured_from) / (steps - WARMUP_STEPS)
            t = _next(t, end, cost_s, polling_budget - progress.wall_s, progress)
        progress.at_ns = progress.end_ns
        progress.phase = "delivering"
        status.set("history", State.RUNNING, "uplinks and ingest finishing")
        await _delivered(agents, ingest)
    progress.wall_s = time.monotonic() - began
    progress.phase = "stored"
    status.set("history", State.RUNNING, f"{progress.describe()} stored in {progress.wall_s:.0f} s")


def plan_step_s(span_s: float) -> float:
    """Simulated seconds per step: about `TARGET_STEPS` steps over the span, no finer than
    `MIN_STEP_S`, no coarser than `MAX_STEP_S`."""
    return min(MAX_STEP_S, max(MIN_STEP_S, span_s / TARGET_STEPS))


def _next(t: int, end: int, cost_s: float, left_s: float, progress: HistoryProgress) -> int:
    """The next simulated time. When the rest of the span at this step would take more than
    `left_s` wall seconds (at `cost_s` a step), skip ahead once so that it fits: the span is
    shortened and the status says so."""
    step_ns = int(progress.step_s * NS)
    nxt = t + step_ns
    affordable = max(1.0, left_s / max(cost_s, 1e-3))
    if progress.shortened_from_ns is None and (end - t) / step_ns > affordable:
        nxt = max(nxt, end - int(affordable * step_ns))
        progress.shortened_from_ns = progress.start_ns
        progress.start_ns = nxt
    return nxt


async def _delivered(edge: list[EdgeAgent], ingest: IngestService, timeout_s: float = 60) -> None:
    """Until every batch is out of the spools and ingest handled as many messages as the
    agents published (stored or rejected: either way it is not in flight any more)."""
    deadline = time.monotonic() + timeout_s

    def count(registry: object, name: str, labels: dict[str, str] | None = None) -> float:
        value = registry.get_sample_value(name, labels or {})  # type: ignore[attr-defined]
        return float(value or 0.0)

    while time.monotonic() < deadline:
        pending = sum(a.spool.pending_readings for a in edge)
        published = sum(
            count(a.metrics.registry, "peakline_edge_published_batches_total") for a in edge
        )
        handled = sum(
            count(ingest.metrics.registry, "peakline_ingest_messages_total", {"outcome": o})
            for o in ("stored", "rejected")
        )
        if pending == 0 and handled >= published:
            return
        await asyncio.sleep(0.05)  # two counters in this loop; no event to await
