"""When the demo's demand-response event falls in its history (peakline_cli.demo.dr_event),
and the clock the demo's API reads while the history is stepped and after."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from firmware_sim.clock import SimClock
from peakline_cli.demo.dr_event import demo_clock, event_window

SHANGHAI = "Asia/Shanghai"


@pytest.mark.parametrize(
    ("now", "days", "expected_start"),
    [
        # Friday morning UTC: Thursday 14:00 in Shanghai is 06:00 UTC
        (datetime(2026, 12, 4, 7, 30, tzinfo=UTC), 2, datetime(2026, 12, 3, 6, tzinfo=UTC)),
        # Friday 09:00 UTC is 17:00 in Shanghai: today's 14:00-16:00 ended two hours ago
        (datetime(2026, 12, 4, 9, 0, tzinfo=UTC), 2, datetime(2026, 12, 4, 6, tzinfo=UTC)),
        # Monday with two days of history: no working day in it, so Sunday's afternoon
        (datetime(2026, 12, 7, 3, 0, tzinfo=UTC), 2, datetime(2026, 12, 6, 6, tzinfo=UTC)),
        # Monday with a week: Friday's afternoon
        (datetime(2026, 12, 7, 3, 0, tzinfo=UTC), 7, datetime(2026, 12, 4, 6, tzinfo=UTC)),
    ],
)
def test_event_window(now: datetime, days: int, expected_start: datetime) -> None:
    window = event_window(now - timedelta(days=days), now, SHANGHAI)
    assert window == (expected_start, expected_start + timedelta(hours=2))


def test_no_event_in_a_history_too_short_for_one() -> None:
    now = datetime(2026, 12, 4, 7, 30, tzinfo=UTC)
    assert event_window(now - timedelta(hours=3), now, SHANGHAI) is None


def test_demo_clock_is_the_simulators_while_stepped_then_the_wall_clock() -> None:
    start = 1_700_000_000 * 10**9
    clock = SimClock(start, 0.0)
    now = demo_clock(clock)
    assert now() == start
    clock.set(start + 3600 * 10**9)
    assert now() == start + 3600 * 10**9
    clock.release(time.time_ns())
    assert abs(now() - time.time_ns()) < 5 * 10**9
