"""Engine contract: causal, batch-split invariant, state round trips, flat input, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from peakline_core.anomaly import AnomalyConfig, AnomalyEngine, AnomalyError
from tests.unit.anomaly.anomaly_synth import NS, building_load, timestamps

KEYS = ["a/m/p", "a/m/q", "b/m/p"]


def stream(days: float = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = timestamps(days, 300.0)
    values = building_load(ts, len(KEYS), rng)
    values[0, 1000] *= 2  # something to score
    values[1, 1200:1300] = values[1, 1200]
    values[2, rng.choice(ts.size, 100, replace=False)] = np.nan  # ragged rows
    return np.broadcast_to(ts, values.shape).copy(), values


def engine() -> AnomalyEngine:
    e = AnomalyEngine()
    e.register_series("b/m/p", lower=0, upper=5000)
    return e


def test_appending_future_data_never_changes_past_scores() -> None:
    ts, values = stream()
    cut = 1100
    past = engine().score(KEYS, ts[:, :cut], values[:, :cut])
    full = engine().score(KEYS, ts, values)
    rigged = values.copy()
    rigged[:, cut:] = 1e9  # wildly different futures
    other = engine().score(KEYS, ts, rigged)
    for batch in (full, other):
        np.testing.assert_array_equal(batch.score[:, :cut], past.score)
        np.testing.assert_array_equal(batch.detector[:, :cut], past.detector)


def test_any_batch_split_with_save_and_load_gives_the_same_scores_and_events() -> None:
    ts, values = stream()
    whole = engine().score(KEYS, ts, values)
    e = engine()
    scores, events = [], []
    cuts = [0, 1, 7, 300, 301, 1111, 1250, ts.shape[1]]
    for lo, hi in itertools.pairwise(cuts):
        e = AnomalyEngine.load(e.save())  # a restart between every batch
        batch = e.score(KEYS, ts[:, lo:hi], values[:, lo:hi])
        scores.append(batch.score)
        events.extend(batch.events)
    np.testing.assert_array_equal(np.concatenate(scores, axis=1), whole.score)
    closed = sorted((ev.series, ev.start_ns, ev.end_ns) for ev in events if ev.state == "closed")
    assert closed == sorted(
        (ev.series, ev.start_ns, ev.end_ns) for ev in whole.events if ev.state == "closed"
    )
    assert len(closed) >= 2


def test_scores_are_in_range_and_nan_only_where_no_reading() -> None:
    ts, values = stream()
    batch = engine().score(KEYS, ts, values)
    assert batch.score.dtype == np.float32
    assert np.array_equal(np.isnan(batch.score), np.isnan(values))
    assert np.nanmin(batch.score) >= 0 and np.nanmax(batch.score) <= 1
    names = batch.detector_names()
    assert names[0, 1000] != "none"
    assert set(names[np.isnan(values)]) == {"none"}


def test_score_flat_matches_block_scoring_in_input_order() -> None:
    ts, values = stream()
    block = engine().score(KEYS, ts, values)
    keys = np.repeat(np.asarray(KEYS), ts.shape[1])
    order = np.random.default_rng(3).permutation(keys.size)
    ok = ~np.isnan(values.ravel()[order])
    flat = engine().score_flat(keys[order][ok], ts.ravel()[order][ok], values.ravel()[order][ok])
    np.testing.assert_array_equal(flat.score, block.score.ravel()[order][ok])
    np.testing.assert_array_equal(flat.detector, block.detector.ravel()[order][ok])


def test_stale_and_duplicate_readings_are_ignored() -> None:
    ts, values = stream()
    e = engine()
    first = e.score(KEYS, ts[:, :100], values[:, :100])
    again = e.score(KEYS, ts[:, 50:150], values[:, 50:150])  # redelivery overlaps
    assert np.isnan(again.score[:, :50]).all()
    fresh = engine()
    fresh.score(KEYS, ts[:, :100], values[:, :100])
    np.testing.assert_array_equal(
        again.score[:, 50:], fresh.score(KEYS, ts[:, 100:150], values[:, 100:150]).score
    )
    assert first.score.shape == (3, 100)


def test_a_batch_of_no_series_scores_nothing_and_changes_nothing() -> None:
    ts, values = stream()
    e = engine()
    e.score(KEYS, ts[:, :100], values[:, :100])
    before = {name: arr.copy() for name, arr in e._state.arrays.items()}
    for width in (0, 1, 50):
        empty = e.score([], np.zeros((0, width), np.int64), np.zeros((0, width)))
        assert empty.score.shape == empty.detector.shape == (0, width)
        assert empty.events == [] and empty.counter_rate is None
    for name, arr in e._state.arrays.items():
        np.testing.assert_array_equal(arr, before[name], err_msg=name)
    fresh = engine()
    fresh.score(KEYS, ts[:, :100], values[:, :100])
    np.testing.assert_array_equal(
        e.score(KEYS, ts[:, 100:], values[:, 100:]).score,
        fresh.score(KEYS, ts[:, 100:], values[:, 100:]).score,
    )


def test_unseen_keys_get_fresh_state_and_learnt_state_is_kept() -> None:
    e = AnomalyEngine()
    e.score(["x"], np.array([[1 * NS, 2 * NS]]), np.array([[1.0, 2.0]]))
    e.register_series("x", upper=10)
    e.score(["y", "x"], np.array([[3 * NS], [3 * NS]]), np.array([[5.0], [50.0]]))
    assert e.keys == ["x", "y"]
    assert AnomalyEngine.load(e.save()).keys == ["x", "y"]


def test_one_incident_is_one_event() -> None:
    ts, values = stream()
    values[0, 900:960:3] *= 3  # an intermittent fault: 20 spikes in 5 hours
    batch = engine().score(KEYS, ts, values)
    hits = [ev for ev in batch.events if ev.series == KEYS[0] and ts[0, 890] <= ev.start_ns]
    assert len([ev for ev in hits if ev.start_ns <= ts[0, 960]]) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda e: e.score(["a"], np.zeros((1, 3), np.int64), np.zeros((1, 2))),
        lambda e: e.score(["a", "b"], np.zeros((1, 2), np.int64), np.zeros((1, 2))),
        lambda e: e.score(["a", "a"], np.zeros((2, 2), np.int64), np.zeros((2, 2))),
        lambda e: e.score(["a"], np.zeros((1, 2)), np.zeros((1, 2))),
        lambda e: e.register_series("a", lower=5, upper=1),
        lambda e: e.register_series("a", rollover=100),
        lambda e: AnomalyEngine.load(b"not a state"),
    ],
)
def test_bad_input_is_a_typed_error(call) -> None:
    with pytest.raises(AnomalyError):
        call(AnomalyEngine())


def test_config_rejects_inconsistent_thresholds() -> None:
    with pytest.raises(ValueError, match="event_close"):
        AnomalyConfig(event_open=0.3, event_close=0.6)


def test_a_state_saved_with_float64_chart_and_trackers_loads_and_scores_on() -> None:
    """The seasonal tail tracker and the drift chart run in float32 (issue 18); a state saved
    before, whose values are not float32 numbers, still loads, scores as a float32-rounded
    one does, and saves its fields as float64 again."""
    ts, values = stream()
    e = engine()
    e.score(KEYS, ts[:, :1000], values[:, :1000])
    arrays = e._state.arrays
    for name in ("q_season", "e", "ve"):
        assert arrays[name].dtype == np.float64
        # what main saved: full float64 values (nudged off the float32 grid)
        arrays[name] = arrays[name] * (1.0 + 1e-12) + np.where(arrays[name] != 0, 1e-13, 0.0)
    old = e.save()
    rounded = AnomalyEngine.load(old)
    for name in ("q_season", "e", "ve"):
        arr = rounded._state.arrays[name]
        rounded._state.arrays[name] = arr.astype(np.float32).astype(np.float64)
    a = AnomalyEngine.load(old).score(KEYS, ts[:, 1000:], values[:, 1000:])
    b = rounded.score(KEYS, ts[:, 1000:], values[:, 1000:])
    np.testing.assert_array_equal(a.score, b.score)
    after = AnomalyEngine.load(old)
    after.score(KEYS, ts[:, 1000:], values[:, 1000:])
    assert all(after._state.arrays[k].dtype == np.float64 for k in ("q_season", "e", "ve"))
    assert np.isfinite(after._state.arrays["ve"]).all()
