"""A rule's `during` window (issue 22): local days and hours in the subject's site's zone."""

from __future__ import annotations

import calendar
import datetime as dt

import pytest

from peakline_core.alerts.conditions import in_schedule
from peakline_core.config.alerts import During


def _utc(day: int, hour: int) -> int:
    """January 2026 (the 3rd is a Saturday), UTC."""
    return calendar.timegm((2026, 1, day, hour, 0, 0)) * 1_000_000_000


WEEKEND = During(days=["sat", "sun"])


@pytest.mark.parametrize(
    ("day", "hour", "zone", "expected"),
    [
        (2, 20, "Asia/Shanghai", True),  # Friday 20:00 UTC is Saturday 04:00 in Shanghai
        (2, 20, "UTC", False),
        (4, 15, "Asia/Shanghai", True),  # Sunday 23:00 local
        (4, 16, "Asia/Shanghai", False),  # Monday 00:00 local, still Sunday in UTC
        (4, 16, "UTC", True),
    ],
)
def test_weekend_in_the_sites_zone(day: int, hour: int, zone: str, expected: bool) -> None:
    assert in_schedule(WEEKEND, zone, _utc(day, hour)) is expected


def test_a_window_spanning_midnight_belongs_to_the_day_it_began() -> None:
    night = During(days=["sun"], start=dt.time(22), end=dt.time(6))
    assert in_schedule(night, "UTC", _utc(4, 23))  # Sunday 23:00
    assert in_schedule(night, "UTC", _utc(5, 3))  # Monday 03:00: Sunday's night
    assert not in_schedule(night, "UTC", _utc(5, 7))
    assert not in_schedule(night, "UTC", _utc(4, 3))  # Sunday 03:00 is Saturday's night


def test_opening_hours_and_the_fallback_zone() -> None:
    closed = During(days=["mon", "tue", "wed", "thu", "fri"], start=dt.time(8), end=dt.time(18),
                    timezone="Asia/Shanghai")  # fmt: skip
    assert in_schedule(closed, None, _utc(5, 2))  # Monday 10:00 in Shanghai
    assert not in_schedule(closed, None, _utc(5, 12))  # Monday 20:00 in Shanghai
    assert not in_schedule(closed, "UTC", _utc(5, 2))  # the site's own zone wins: 02:00
    assert in_schedule(None, "UTC", _utc(5, 2))  # no window: always watched
