"""The demo history's pure parts: the adaptive step, the span shortening, the faults it
injects, the progress it shows, and the simulator clock it steps then releases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from firmware_sim.clock import SimClock
from firmware_sim.errors import ClockError
from peakline_cli.demo.history import (
    MAX_STEP_S,
    MIN_STEP_S,
    _next,
    history_faults,
    plan_step_s,
)
from peakline_cli.demo.status import DemoStatus, HistoryProgress, summary_line

NS = 1_000_000_000
DAY = 86_400 * NS


def _progress(days: float) -> HistoryProgress:
    return HistoryProgress(start_ns=0, end_ns=int(days * DAY), at_ns=0)


def test_the_step_spreads_about_700_steps_over_the_span_within_its_bounds() -> None:
    assert plan_step_s(86_400) == MIN_STEP_S  # one day: five-minute data
    assert plan_step_s(7 * 86_400) == pytest.approx(7 * 86_400 / 700)  # a week: ~14 min
    assert plan_step_s(30 * 86_400) == MAX_STEP_S  # never beyond the deriver's gap limit


def test_a_span_that_fits_is_stepped_through_whole() -> None:
    p = _progress(7)
    p.step_s = 864.0
    nxt = _next(0, p.end_ns, cost_s=0.03, left_s=30.0, progress=p)  # 700 steps in 21 s
    assert nxt == 864 * NS and p.shortened_from_ns is None


def test_a_span_that_cannot_fit_is_shortened_once() -> None:
    p = _progress(7)
    p.step_s = 864.0
    # 100 affordable steps of 864 s: the history skips ahead to 24 h before its end.
    nxt = _next(0, p.end_ns, cost_s=0.1, left_s=10.0, progress=p)
    assert nxt == p.end_ns - 100 * 864 * NS
    assert p.shortened_from_ns == 0 and p.start_ns == nxt
    assert "7.0 simulated days shortened to 1.0" in p.describe()
    # later steps go on from there, even if slower than measured: no second jump
    assert _next(nxt, p.end_ns, cost_s=1.0, left_s=1.0, progress=p) == nxt + 864 * NS
    assert p.start_ns == nxt


def test_history_faults_fall_inside_the_span_on_known_devices_only() -> None:
    start = datetime(2026, 11, 26, 8, tzinfo=UTC)
    faults = history_faults(start, 7, {"office-meter", "school-pv"})
    assert {f["device"] for f in faults} == {"office-meter", "school-pv"}
    for f in faults:
        at = datetime.fromisoformat(str(f["start"]))
        assert start < at < datetime(2026, 12, 3, 8, tzinfo=UTC)


def test_progress_is_shown_on_the_status_line() -> None:
    status = DemoStatus()
    status.history = _progress(7)
    status.history.at_ns = int(3.5 * DAY)
    assert "history=simulating:50%" in summary_line(status)


def test_a_manual_clock_is_stepped_then_released_to_run_live() -> None:
    clock = SimClock(start_ns=1_000 * NS, speed=0)
    clock.set(2_000 * NS)
    with pytest.raises(ClockError):
        clock.release(1_500 * NS)  # never backwards
    clock.release(3_000 * NS, speed=1.0)
    assert not clock.manual
    assert 3_000 * NS <= clock.now() < 3_010 * NS
    with pytest.raises(ClockError):
        clock.release(4_000 * NS)  # only once: it is not manual any more


def test_the_live_panel_draws_the_history_progress_bar() -> None:
    from rich.console import Console

    from peakline_cli.demo.status import render

    status = DemoStatus()
    status.history = _progress(7)
    status.history.at_ns = int(7 * DAY * 0.25)
    console = Console(record=True, width=120)
    console.print(render(status))
    text = console.export_text()
    assert "history: 7.0 simulated days, simulating, 25 %" in text
    assert "━" in text  # the bar itself
