"""The incident lifecycle and rule conditions (pure core, issue 22)."""

from __future__ import annotations

import numpy as np
import pytest

from peakline_core.alerts import IncidentError, acknowledge, observe, reminder_due
from peakline_core.alerts.conditions import daily_energy, in_quiet_hours, no_data, threshold
from peakline_core.alerts.lifecycle import NS_PER_MINUTE
from peakline_core.config.alerts import DailyEnergy, NoData, QuietHours, Threshold

MIN = NS_PER_MINUTE
T0 = 1_700_000_000 * 1_000_000_000
WHERE = {"rule": "hot", "subject": "hvac1", "city": "c1", "site": "s1", "severity": "warning"}


def test_one_incident_per_rule_and_subject_however_often_it_fires() -> None:
    inc, out = observe(None, "firing", now_ns=T0, **WHERE)
    assert inc is not None and inc.state == "open"
    assert [t.kind for t in out] == ["opened"]
    for k in range(1, 5):
        again, more = observe(inc, "firing", now_ns=T0 + k * MIN, **WHERE)
        assert again == inc and more == []


def test_hold_keeps_the_state_and_clear_resolves_once() -> None:
    inc, _ = observe(None, "firing", now_ns=T0, **WHERE)
    held, out = observe(inc, "hold", now_ns=T0 + MIN, **WHERE)
    assert held == inc and out == []
    resolved, out = observe(inc, "clear", now_ns=T0 + 30 * MIN, **WHERE)
    assert resolved is not None and resolved.state == "resolved"
    assert [t.key for t in out] == [f"{inc.id}:resolved"]
    _, out = observe(resolved, "clear", now_ns=T0 + 31 * MIN, **WHERE)
    assert out == []
    reopened, out = observe(resolved, "firing", now_ns=T0 + 60 * MIN, **WHERE)
    assert reopened is not None and reopened.id != inc.id and [t.kind for t in out] == ["opened"]


def test_acknowledge_stops_reminders_but_not_resolution() -> None:
    inc, _ = observe(None, "firing", now_ns=T0, **WHERE)
    assert inc is not None
    inc = inc.__class__(**{**inc.__dict__, "last_notified_ns": T0})
    assert reminder_due(inc, 60, T0 + 59 * MIN) is None
    due = reminder_due(inc, 60, T0 + 60 * MIN)
    assert due is not None and due.key == f"{inc.id}:reminder-1"
    acked = acknowledge(inc, by="li.wei", comment="派人去看", now_ns=T0 + 61 * MIN).incident
    assert acked.state == "acknowledged" and acked.acknowledged_by == "li.wei"
    assert reminder_due(acked, 60, T0 + 600 * MIN) is None
    with pytest.raises(IncidentError):
        acknowledge(acked, by="x", comment="", now_ns=T0)
    resolved, out = observe(acked, "clear", now_ns=T0 + 90 * MIN, **WHERE)
    assert resolved is not None and resolved.state == "resolved" and len(out) == 1


HOT = Threshold(
    kind="threshold", point="supply_temp", op=">", value=30, for_minutes=10, clear_at=28
)


def _series(values: list[float]) -> tuple[np.ndarray, np.ndarray]:
    times = T0 + np.arange(len(values), dtype=np.int64) * MIN
    return times, np.asarray(values, dtype=np.float64)


def test_threshold_needs_the_whole_duration_past_the_value() -> None:
    times, values = _series([25.0] * 5 + [31.0] * 10)
    now = int(times[-1])
    assert threshold(HOT, times, values, now) == "hold"  # 9 min above, started inside window
    times, values = _series([25.0] * 5 + [31.0] * 11)
    assert threshold(HOT, times, values, int(times[-1])) == "firing"


def test_threshold_hysteresis_band_holds_and_below_clears() -> None:
    times, values = _series([31.0] * 12 + [29.0])
    assert threshold(HOT, times, values, int(times[-1])) == "hold"  # 29 is inside 28..30
    times, values = _series([31.0] * 12 + [27.5])
    assert threshold(HOT, times, values, int(times[-1])) == "clear"
    assert threshold(HOT, times[:0], values[:0], T0) == "hold"


def test_no_data_counts_from_the_last_reading_or_from_the_start() -> None:
    cond = NoData(kind="no_data", minutes=30)
    assert no_data(cond, T0, T0 + 29 * MIN, since_ns=T0) == "clear"
    assert no_data(cond, T0, T0 + 30 * MIN, since_ns=T0) == "firing"
    assert no_data(cond, None, T0 + 10 * MIN, since_ns=T0) == "clear"
    assert no_data(cond, None, T0 + 31 * MIN, since_ns=T0) == "firing"


def test_daily_energy_has_a_band_between_baseline_and_trip_point() -> None:
    cond = DailyEnergy(kind="daily_energy", baseline_kwh=1000, over_percent=20)
    assert daily_energy(cond, 1201) == "firing"
    assert daily_energy(cond, 1100) == "hold"
    assert daily_energy(cond, 1000) == "clear"
    assert daily_energy(cond, None) == "hold"


def test_quiet_hours_span_midnight_in_local_time() -> None:
    quiet = QuietHours.model_validate({"start": "22:00", "end": "07:00", "utc_offset_hours": 8})
    # 1_700_000_000 s is 2023-11-14 22:13 UTC = 06:13 next day in Beijing: quiet
    assert in_quiet_hours(quiet, T0)
    assert not in_quiet_hours(quiet, T0 + 60 * MIN)  # 07:13
    assert not in_quiet_hours(None, T0)


def test_quiet_hours_defer_to_the_local_end_of_the_window() -> None:
    from peakline_core.alerts.conditions import quiet_until

    quiet = QuietHours.model_validate({"start": "22:00", "end": "07:00", "utc_offset_hours": 8})
    # T0 is 06:13:20 in Beijing: held until 07:00 Beijing = 2023-11-14 23:00:00 UTC
    assert quiet_until(quiet, T0) == 1_700_002_800 * 1_000_000_000
    assert quiet_until(quiet, T0 + 60 * MIN) == T0 + 60 * MIN
    assert quiet_until(None, T0) == T0
