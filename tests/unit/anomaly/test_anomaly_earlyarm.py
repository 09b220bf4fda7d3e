"""Arming within hours (issue 18): a new series' spikes are events on its first day, its routine
steps are not; the seasonal detectors still wait for a daily cycle."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from peakline_core.anomaly import AnomalyConfig, AnomalyEngine
from tests.unit.anomaly.anomaly_synth import NS, START_NS, building_load, timestamps
from tests.unit.anomaly.test_anomaly_precision import step_load

HOUR_NS = 3600 * NS
DAY_NS = 24 * HOUR_NS


def score(values: np.ndarray, ts: np.ndarray, engine: AnomalyEngine | None = None):
    engine = engine or AnomalyEngine()
    keys = [f"s{i}" for i in range(values.shape[0])]
    return engine.score(keys, np.broadcast_to(ts, values.shape).copy(), values)


def first_day(events) -> list:
    return sorted((e.series, e.kind, e.start_ns) for e in events if e.start_ns < START_NS + DAY_NS)


@pytest.mark.parametrize("step_s", [60.0, 300.0])
def test_a_5x_spike_in_hours_3_to_8_of_a_new_series_is_one_event(step_s: float) -> None:
    ts = timestamps(1.5, step_s)
    rng = np.random.default_rng(31)
    values = building_load(ts, 10, rng)
    hours = np.linspace(3.1, 7.9, 10)
    at = np.searchsorted(ts, START_NS + (hours * HOUR_NS).astype(np.int64))
    values[np.arange(10), at] *= 5.0
    batch = score(values, ts)
    found = first_day(batch.events)
    assert [(s, start) for s, _, start in found] == [(f"s{i}", int(ts[at[i]])) for i in range(10)]
    assert {kind for _, kind, _ in found} <= {"spike", "novelty"}
    # each opened as soon as the series was back, and closed after its quiet stretch
    closed = {e.series: e for e in batch.events if e.state == "closed"}
    assert sorted(closed) == sorted(s for s, _, _ in found)
    for i in range(10):
        assert closed[f"s{i}"].end_ns == ts[at[i] + 1]


def test_the_same_spikes_without_them_raise_nothing_on_the_first_days() -> None:
    for step_s in (60.0, 300.0):
        ts = timestamps(2, step_s)
        values = building_load(ts, 10, np.random.default_rng(31))
        assert score(values, ts).events == []


@pytest.mark.parametrize("on_hour", [4.0, 6.5, 8.0, 9.25])
def test_a_clean_stepping_series_raises_no_event_in_its_first_day(on_hour: float) -> None:
    """An HVAC schedule's 10 -> 60 kW step, new to the model, holds: a regime change."""
    ts = timestamps(1.5, 300.0)
    values = step_load(ts, np.full(3, on_hour), np.random.default_rng(32))
    batch = score(values, ts)
    assert batch.events == []
    # the detectors do flag the first step: only the event is held back
    step = int(np.searchsorted(ts, START_NS + int(on_hour * HOUR_NS)))
    assert (batch.score[:, step] >= 0.5).all()


def test_a_step_that_comes_back_within_the_hold_is_an_event_one_that_holds_is_not() -> None:
    ts = timestamps(1.2, 300.0)
    values = 10.0 + np.random.default_rng(33).normal(0, 0.5, (2, ts.size))
    at = int(np.searchsorted(ts, START_NS + 5 * HOUR_NS))
    values[0, at : at + 4] += 50.0  # 20 minutes at 60 kW, back to 10
    values[1, at : at + 30] += 50.0  # 2.5 hours: longer than early_hold_s (1 h)
    batch = score(values, ts)
    assert first_day(batch.events) == [("s0", "novelty", int(ts[at]))]


def test_nothing_statistical_opens_before_early_arm_s_and_seasonal_waits_a_day() -> None:
    ts = timestamps(1.5, 300.0)
    values = building_load(ts, 2, np.random.default_rng(34))
    early = int(np.searchsorted(ts, START_NS + 2 * HOUR_NS))
    values[0, early] *= 5.0  # before 3 h of data: scored, no event
    batch = score(values, ts)
    assert batch.score[0, early] >= 0.5
    assert first_day(batch.events) == []
    # with arming pushed to the day, even a spike at hour 5 waits (the knob is honoured)
    values[1, early + 36] *= 5.0
    late = AnomalyEngine(AnomalyConfig(early_arm_s=86400.0 + 3600.0))
    assert first_day(score(values, ts, late).events) == []
    assert [s for s, _, _ in first_day(score(values, ts).events)] == ["s1"]


def test_a_gap_in_the_first_hours_is_scored_but_waits_for_the_daily_cycle() -> None:
    """Missing readings of a declared point are the deriver's silence check's (from the
    first reading); the engine's interval model of a few hours opens nothing yet."""
    ts = timestamps(2.0, 60.0)
    values = building_load(ts, 1, np.random.default_rng(35))
    keep = np.ones(ts.size, dtype=bool)
    early = int(np.searchsorted(ts, START_NS + 5 * HOUR_NS))
    late = int(np.searchsorted(ts, START_NS + 30 * HOUR_NS))
    keep[early : early + 30] = False  # half an hour without readings, twice
    keep[late : late + 30] = False
    batch = score(values[:, keep], ts[keep])
    after = np.flatnonzero(keep)
    first_back = int(np.searchsorted(after, early + 30))
    assert batch.score[0, first_back] >= 0.5
    assert batch.detector_names()[0, first_back] == "gap"
    assert [(e.kind, e.start_ns) for e in batch.events] == [("gap", int(ts[late - 1]))]


def test_a_pending_excursion_survives_any_batch_split_and_a_restart() -> None:
    ts = timestamps(1.5, 300.0)
    values = step_load(ts, np.full(2, 8.0), np.random.default_rng(36))
    at = int(np.searchsorted(ts, START_NS + 5 * HOUR_NS))
    values[0, at : at + 3] *= 5.0  # a 15-minute excursion, pending over the cuts below
    values[1, at + 20] *= 5.0
    keys = ["s0", "s1"]
    tsb = np.broadcast_to(ts, values.shape).copy()
    whole = AnomalyEngine().score(keys, tsb, values)
    assert len(first_day(whole.events)) == 2
    engine = AnomalyEngine()
    events = []
    for lo, hi in itertools.pairwise([0, at + 1, at + 2, at + 21, ts.size]):
        engine = AnomalyEngine.load(engine.save())
        events.extend(engine.score(keys, tsb[:, lo:hi], values[:, lo:hi]).events)

    def closed(evs) -> list:
        return sorted((e.series, e.kind, e.start_ns, e.end_ns) for e in evs if e.state == "closed")

    assert closed(events) == closed(whole.events)
    assert len(closed(whole.events)) == 2
