"""Each detector catches its own fault kind on synthetic data and stays quiet on clean data."""

from __future__ import annotations

import numpy as np
import pytest

from peakline_core.anomaly import AnomalyEngine, AnomalyEvent
from tests.unit.anomaly.anomaly_synth import NS, START_NS, building_load, temperature, timestamps

STEP_S = 300.0  # 5-minute readings
WARM_DAYS = 14


def run(values: np.ndarray, ts: np.ndarray, engine: AnomalyEngine | None = None, keys=None):
    engine = engine or AnomalyEngine()
    keys = keys or [f"site/dev/p{i}" for i in range(values.shape[0])]
    ts2 = np.broadcast_to(ts, values.shape).copy()
    return engine, engine.score(keys, ts2, values)


def events_after(events: list[AnomalyEvent], t_ns: int) -> list[AnomalyEvent]:
    return [e for e in events if e.end_ns is None or e.end_ns >= t_ns]


def test_clean_seasonal_loads_raise_no_events_after_warmup() -> None:
    rng = np.random.default_rng(1)
    ts = timestamps(35, STEP_S)
    _, batch = run(building_load(ts, 30, rng), ts)
    late = events_after(batch.events, int(ts[0]) + 7 * 86400 * NS)
    assert late == [], late[:5]
    assert np.nanmean(batch.score[:, ts.size // 3 :] > 0) < 1e-3


def test_clean_quantized_temperatures_raise_no_events() -> None:
    rng = np.random.default_rng(2)
    ts = timestamps(21, 60.0)
    _, batch = run(temperature(ts, 10, rng), ts)
    assert events_after(batch.events, int(ts[0]) + 2 * 86400 * NS) == []


def test_spike_is_one_short_event_named_spike() -> None:
    rng = np.random.default_rng(3)
    ts = timestamps(WARM_DAYS + 3, STEP_S)
    values = building_load(ts, 4, rng)
    at = ts.size - 400
    values[:, at] *= 1.5  # a meter glitch: +50 % for one reading
    _, batch = run(values, ts)
    late = events_after(batch.events, int(ts[at - 1]))
    assert len(late) == 4
    assert {e.kind for e in late} == {"spike"}
    assert all(e.start_ns == ts[at] and e.state == "closed" for e in late)


def test_night_waste_is_caught_by_the_seasonal_profile() -> None:
    """Lights left on: night load doubles from one night on (the daytime is unchanged)."""
    rng = np.random.default_rng(4)
    ts = timestamps(WARM_DAYS + 2, STEP_S)
    values = building_load(ts, 6, rng)
    hours = (ts // (3600 * NS)) % 24
    fault = (ts >= ts[0] + WARM_DAYS * 86400 * NS) & ((hours < 5) | (hours >= 22))
    base = values[:, :288].min(axis=1, keepdims=True)
    values = np.where(fault, values + base, values)
    _, batch = run(values, ts)
    first = int(ts[fault][0])
    late = events_after(batch.events, first)
    assert {e.series for e in late} == {f"site/dev/p{i}" for i in range(6)}
    assert all(e.kind in ("seasonal", "drift", "spike") for e in late)
    assert min(e.start_ns for e in late) - first <= 3600 * NS


def test_slow_drift_is_caught_by_the_drift_chart() -> None:
    """A sensor whose offset grows by 1.5 noise-sd per day: invisible reading by reading."""
    rng = np.random.default_rng(5)
    ts = timestamps(WARM_DAYS + 5, 60.0)
    values = temperature(ts, 5, rng)
    start = WARM_DAYS * 1440
    values[:, start:] += 0.15 * 1.5 * np.arange(ts.size - start) / 1440
    _, batch = run(values, ts)
    late = events_after(batch.events, int(ts[start]))
    assert {e.series for e in late} == {f"site/dev/p{i}" for i in range(5)}
    assert "drift" in {e.kind for e in late}
    assert not events_after(batch.events, int(ts[WARM_DAYS // 2 * 1440])) or all(
        e.start_ns >= ts[start] for e in late
    )


def test_stuck_value_is_a_flatline_event_from_the_start_of_the_run() -> None:
    rng = np.random.default_rng(6)
    ts = timestamps(WARM_DAYS, STEP_S)
    values = building_load(ts, 3, rng)
    at = ts.size - 300
    values[:, at : at + 100] = values[:, at : at + 1]
    _, batch = run(values, ts)
    late = events_after(batch.events, int(ts[at]))
    assert [e.kind for e in late] == ["flatline"] * 3
    assert all(e.start_ns == ts[at] for e in late)
    assert all(ts[at] <= e.end_ns <= ts[at + 110] for e in late)


def test_pv_at_zero_every_night_is_not_a_flatline() -> None:
    ts = timestamps(20, STEP_S)
    hours = (ts // (3600 * NS)) % 24 + (ts % (3600 * NS)) / (3600 * NS)
    sun = np.clip(np.sin(np.pi * (hours - 6) / 12), 0, None)
    rng = np.random.default_rng(7)
    values = np.round(5000 * sun * rng.uniform(0.6, 1.0, (4, ts.size)), 0)
    _, batch = run(values, ts)
    assert [e for e in events_after(batch.events, int(ts[0]) + 3 * 86400 * NS)] == []


def test_gap_event_spans_the_missing_stretch() -> None:
    rng = np.random.default_rng(8)
    ts = timestamps(3, 60.0)
    values = temperature(ts, 2, rng)
    keep = np.ones(ts.size, bool)
    keep[3000:3060] = False  # one hour missing
    _, batch = run(values[:, keep], ts[keep])
    gaps = [e for e in batch.events if e.kind == "gap"]
    assert len(gaps) == 2
    assert all(e.start_ns == ts[2999] for e in gaps)


def test_irregular_sampling_is_not_a_gap() -> None:
    rng = np.random.default_rng(9)
    ts = (np.cumsum(rng.exponential(60.0, 4000)) * NS).astype(np.int64) + 1_704_067_200 * NS
    values = rng.normal(10, 1, (1, ts.size))
    _, batch = run(values, ts)
    assert [e for e in batch.events if e.kind == "gap"] == []


def test_physical_limits_and_rate() -> None:
    ts = timestamps(1, 60.0)
    rng = np.random.default_rng(10)
    values = 50 + rng.normal(0, 1, (2, ts.size))
    values[0, 700] = 120.0  # a humidity above 100 %
    values[1, 900] = values[1, 899] + 30  # +30 in a minute: beyond the sensor's physics
    engine = AnomalyEngine()
    engine.register_series("h", lower=0, upper=100)
    engine.register_series("t", max_rate=0.2)
    _, batch = run(values, ts, engine, ["h", "t"])
    assert batch.detector_names()[0, 700] == "limit"
    assert batch.score[0, 700] == 1.0
    assert batch.detector_names()[1, 900] == "rate"


@pytest.mark.parametrize(("jump", "kind"), [("reset", "counter_reset"), ("wrap", "rollover")])
def test_counter_reset_and_rollover(jump: str, kind: str) -> None:
    ts = timestamps(2, 60.0)
    rng = np.random.default_rng(11)
    energy = 60_000 + np.cumsum(rng.uniform(0.5, 1.5, ts.size))
    at = 2000
    if jump == "reset":
        energy[at:] -= energy[at - 1]
    else:
        energy = energy % 61_000  # wraps once, inside the series
        at = int(np.flatnonzero(np.diff(energy) < 0)[0]) + 1
    engine = AnomalyEngine()
    engine.register_series("m", counter=True, rollover=61_000 if jump == "wrap" else None)
    _, batch = run(energy[None, :], ts, engine, ["m"])
    names = batch.detector_names()[0]
    assert names[at] == kind
    assert [e.kind for e in batch.events] == [kind]
    # the consumption model is not disturbed by the jump
    assert np.nanmax(batch.score[0, at + 1 :]) < 0.5


def outdoor(ts: np.ndarray) -> np.ndarray:
    """A smooth outdoor temperature (degC, the register's 0.1 steps): a 10 degC daily swing
    and a slow weather wave, no noise; as firmware-sim's (and a real sensor's) reads."""
    h = (ts - START_NS) / (3600 * NS)
    return np.round(5 + 5 * np.cos(2 * np.pi * (h - 15) / 24) + 2 * np.sin(h / 7), 1)


def test_a_smooth_value_read_faster_than_its_history_is_not_stuck() -> None:
    """The demo: days of history at 14.4-minute steps (most readings moved 1-5 register
    steps), then live polls every 10 s (a weekday noon: its hours were visited), where a
    0.1 degC value holds for minutes. Its expected innovation over 10 s is under one step:
    it changes by steps, judged by the time held, so it is no flatline; a stuck one is still
    found (by the time held: hours, where the per-reading rule flagged the live value within
    a minute, stuck or not)."""
    hist = timestamps(4.5, 864.0)
    live = hist[-1] + (np.arange(1, 1 + 3 * 360) * 10 * NS).astype(np.int64)  # 3 h of 10 s
    ts = np.concatenate([hist, live])
    smooth = outdoor(ts)
    stuck = smooth.copy()
    stuck[hist.size :] = stuck[hist.size]  # frozen from the first live reading
    keys = ["s/hvac/outdoor_temp", "s/hvac2/outdoor_temp"]
    engine = AnomalyEngine()
    for key in keys:
        engine.register_series(key, resolution=0.1)
    assert (np.diff(smooth[hist.size :]) == 0).mean() > 0.9  # it holds for minutes live
    _, batch = run(np.stack([smooth, stuck]), ts, engine, keys)
    late = events_after(batch.events, int(live[0]))
    assert [e for e in late if e.series == keys[0]] == []
    found = [e for e in late if e.series == keys[1]]
    assert [e.kind for e in found] == ["flatline"], late
    assert int(hist[-1]) <= found[0].start_ns <= int(live[0])  # from the start of the run
