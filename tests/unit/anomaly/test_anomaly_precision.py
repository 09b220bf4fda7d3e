"""Routine behaviour that is not an anomaly stays quiet; faults in the same places still alarm."""

from __future__ import annotations

import io

import numpy as np

from peakline_core.anomaly import AnomalyEngine
from tests.unit.anomaly.anomaly_synth import NS, START_NS, timestamps

STEP_S = 300.0
HOUR_NS = 3600 * NS


def step_load(ts: np.ndarray, on_hour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Load (kW) that jumps from 10 to 60 within one reading at `on_hour` (per day, local h)
    and back at 18:00, every day of the week, plus noise; [series, time]."""
    hours = (ts - START_NS) % (24 * HOUR_NS) / HOUR_NS
    on = (hours >= on_hour[:, None]) & (hours < 18.0)
    return 10.0 + 50.0 * on + rng.normal(0, 0.5, (on_hour.size, ts.size))


def score(values: np.ndarray, ts: np.ndarray, engine: AnomalyEngine | None = None):
    engine = engine or AnomalyEngine()
    keys = [f"s{i}" for i in range(values.shape[0])]
    return engine.score(keys, np.broadcast_to(ts, values.shape).copy(), values)


def test_daily_schedule_steps_are_routine_not_spikes() -> None:
    ts = timestamps(10, STEP_S)
    rng = np.random.default_rng(20)
    values = step_load(ts, np.full(3, 8.0), rng)
    batch = score(values, ts)
    assert batch.events == []


def test_schedule_that_shifts_by_minutes_each_day_is_not_an_anomaly() -> None:
    """Like sunrise in spring: the step moves across an hour boundary over the days."""
    ts = timestamps(16, STEP_S)
    days = (ts - START_NS) // (24 * HOUR_NS)
    rng = np.random.default_rng(21)
    hours = (ts - START_NS) % (24 * HOUR_NS) / HOUR_NS
    on = (hours >= 7.8 - 0.05 * days) & (hours < 18.0)  # 3 min earlier every day
    values = (10.0 + 50.0 * on + rng.normal(0, 0.5, ts.size))[None, :]
    batch = score(values, ts)
    assert batch.events == []


def test_spike_in_a_quiet_hour_of_a_stepping_series_is_caught() -> None:
    ts = timestamps(10, STEP_S)
    rng = np.random.default_rng(22)
    values = step_load(ts, np.full(1, 8.0), rng)
    at = int(np.searchsorted(ts, START_NS + 9 * 24 * HOUR_NS + 13 * HOUR_NS))
    values[0, at] += 25.0  # 50 noise sd, half the routine daily step
    batch = score(values, ts)
    assert [(e.kind, e.start_ns) for e in batch.events] == [("spike", int(ts[at]))]


def test_repeated_faults_in_one_hour_do_not_teach_the_model_they_are_routine() -> None:
    ts = timestamps(10, STEP_S)
    rng = np.random.default_rng(23)
    values = step_load(ts, np.full(1, 8.0), rng)
    start = int(np.searchsorted(ts, START_NS + 8 * 24 * HOUR_NS + 13 * HOUR_NS))
    values[0, start : start + 12 : 2] += 20.0  # six glitches in one hour
    batch = score(values, ts)
    # the last glitch still scores: one event spans all six
    assert batch.score[0, start + 10] >= 0.25
    assert [(e.kind, e.start_ns, e.end_ns) for e in batch.events] == [
        ("spike", int(ts[start]), int(ts[start + 10]))
    ]


def test_a_first_day_routine_step_opens_no_event_but_limits_alarm_at_once() -> None:
    ts = timestamps(2, STEP_S)
    rng = np.random.default_rng(24)
    values = step_load(ts, np.full(2, 8.0), rng)  # the first 08:00 step is new to the model
    early = int(np.searchsorted(ts, START_NS + 14 * HOUR_NS))
    values[1, early] = 500.0
    engine = AnomalyEngine()
    engine.register_series("s1", upper=100.0)
    batch = score(values, ts, engine)
    first_day = [e for e in batch.events if e.start_ns < START_NS + 24 * HOUR_NS]
    assert [(e.series, e.kind) for e in first_day] == [("s1", "limit")]
    assert batch.score[0, early - 72] >= 0  # scores still flow during the first day


def test_state_saved_before_the_routine_fields_existed_still_loads() -> None:
    ts = timestamps(3, STEP_S)
    values = step_load(ts, np.full(1, 8.0), np.random.default_rng(25))
    engine = AnomalyEngine()
    score(values, ts, engine)
    added = {"span_s", "visit_sq", "visit_w", "visit_bin", "p_innov"}
    with np.load(io.BytesIO(engine.save())) as npz:
        older = {k: npz[k] for k in npz.files if k not in added}
    buf = io.BytesIO()
    np.savez_compressed(buf, **older)
    again = AnomalyEngine.load(buf.getvalue())
    # hours of data are recovered from the reading count, so events are not held back again
    span = again.save()
    with np.load(io.BytesIO(span)) as npz:
        assert npz["span_s"][0] >= 0.99 * 3 * 86400
        assert npz["visit_bin"][0] == -1


def test_a_sensor_stuck_for_hours_is_one_flatline_event_from_the_start_of_the_run() -> None:
    """A noisy sensor that stops changing: each repeat is surprising for its hour, so the
    run is a flatline from its first repeat and stays one for hours (one alarm: the readings
    after the first stay flagged, above event_close, but below event_open)."""
    ts = timestamps(10, STEP_S)
    rng = np.random.default_rng(24)
    noisy = 1000.0 + rng.normal(0, 5.0, (1, ts.size))
    at = ts.size - 100
    noisy[0, at : at + 72] = noisy[0, at]  # 6 hours stuck
    batch = score(noisy, ts)
    late = [(e.kind, e.start_ns) for e in batch.events if e.start_ns >= ts[at - 1]]
    assert late == [("flatline", int(ts[at]))]
    assert 0.25 <= batch.score[0, at + 71] < 0.5
    assert (batch.score[0, at : at + 72] >= 0.5).sum() == 1
