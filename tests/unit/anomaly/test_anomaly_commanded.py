"""A point the platform writes (a setpoint) is an order: only the hard checks judge it."""

from __future__ import annotations

import numpy as np

from peakline_core.anomaly import AnomalyEngine
from tests.unit.anomaly.anomaly_synth import NS, START_NS, timestamps

HOUR_NS = 3600 * NS


def setpoint_history() -> tuple[np.ndarray, np.ndarray, int]:
    """A zone setpoint held at 21.0 degC for 3 days at 5-minute polls, then commanded to 26.0
    (within its 16-28 limits) for an hour, then back; [1, time]."""
    ts = timestamps(3.2, 300.0)
    values = np.full((1, ts.size), 21.0)
    at = int(np.searchsorted(ts, START_NS + 3 * 24 * HOUR_NS))
    values[0, at : at + 12] = 26.0
    return ts[None, :].copy(), values, at


def engine(commanded: bool) -> AnomalyEngine:
    e = AnomalyEngine()
    e.register_series("zone/setpoint", lower=16.0, upper=28.0, commanded=commanded)
    return e


def test_a_commanded_setpoint_change_is_no_statistical_event() -> None:
    ts, values, at = setpoint_history()
    as_sensor = engine(commanded=False).score(["zone/setpoint"], ts, values)
    # read as a measurement, a step after days of 21.0 is an anomaly ...
    assert as_sensor.score[0, at] >= 0.5 and as_sensor.events
    # ... as an order, it is not: scores stay 0 and no event opens
    batch = engine(commanded=True).score(["zone/setpoint"], ts, values)
    assert batch.events == []
    assert np.nanmax(batch.score) == 0.0
    assert (batch.detector_names() == "none").all()


def test_a_commanded_setpoint_outside_its_limits_is_still_a_limit_event() -> None:
    ts, values, at = setpoint_history()
    values[0, at + 20] = 35.0  # beyond the 28 degC limit: a write that should not have happened
    batch = engine(commanded=True).score(["zone/setpoint"], ts, values)
    assert [(e.kind, e.start_ns) for e in batch.events] == [("limit", int(ts[0, at + 20]))]
    assert batch.detector_names()[0, at + 20] == "limit"


def test_commanded_survives_a_restart() -> None:
    ts, values, at = setpoint_history()
    e = engine(commanded=True)
    e.score(["zone/setpoint"], ts[:, :at], values[:, :at])
    again = AnomalyEngine.load(e.save())
    assert again.score(["zone/setpoint"], ts[:, at:], values[:, at:]).events == []
