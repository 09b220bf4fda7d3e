"""Scores are calibrated tail probabilities: one threshold (0.5) means the same on any series.

Calibration on clean series (white noise at any scale, seasonal building loads), the novelty
detector's tail probability and its state, and the refractory stretch after an alarm; plus
causality and restarts on a series that exercises both (a level shift to a new range).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from peakline_core.anomaly import AnomalyConfig, AnomalyEngine
from peakline_core.anomaly import novelty as novelty_mod
from peakline_core.anomaly.prepare import prepare
from peakline_core.anomaly.state import SeriesState
from tests.unit.anomaly.anomaly_synth import building_load, timestamps

OVER = 0.001  # at most 0.1 % of clean readings may score 0.5 or more


def over_half(values: np.ndarray, ts: np.ndarray, config: AnomalyConfig | None = None) -> float:
    engine = AnomalyEngine(config)
    keys = [f"s{i}" for i in range(values.shape[0])]
    batch = engine.score(keys, np.broadcast_to(ts, values.shape).copy(), values)
    return float(np.mean(batch.score >= 0.5))


# without the refractory stretch every reading counts: calibration of the evidence itself
NO_REFRACTORY = AnomalyConfig(alarm_refractory_readings=0)


@pytest.mark.parametrize("config", [None, NO_REFRACTORY], ids=["deployed", "no-refractory"])
def test_white_noise_at_any_scale_rarely_scores_over_half(config: AnomalyConfig | None) -> None:
    ts = timestamps(20, 300.0)
    rng = np.random.default_rng(11)
    scale = np.array([[1e-3], [1.0], [1e3], [1e6]])
    values = scale * (50.0 + rng.normal(0, 1, (4, ts.size)))
    assert over_half(values, ts, config) < OVER


@pytest.mark.parametrize("config", [None, NO_REFRACTORY], ids=["deployed", "no-refractory"])
def test_seasonal_loads_without_anomalies_rarely_score_over_half(
    config: AnomalyConfig | None,
) -> None:
    ts = timestamps(21, 300.0)
    values = building_load(ts, 6, np.random.default_rng(12))
    assert over_half(values, ts, config) < OVER


def novelty_z(values: np.ndarray, cuts: tuple[int, ...] = ()) -> tuple[np.ndarray, dict]:
    """Novelty z of [S, T] values (5-min readings), scored in batches split at `cuts`."""
    n_s, n_t = values.shape
    ts = np.broadcast_to(timestamps(n_t * 300 / 86400, 300.0), values.shape)
    st = SeriesState.empty(n_s).take(np.arange(n_s))
    cfg = AnomalyConfig()
    out = []
    for lo, hi in itertools.pairwise((0, *cuts, n_t)):
        p = prepare(st, ts[:, lo:hi], values[:, lo:hi], None, cfg)
        out.append(novelty_mod.run(st, p, cfg).T)
    return np.concatenate(out, axis=1), st


def test_tail_to_z_matches_the_gaussian_tail() -> None:
    for z in (3.0, 4.0, 6.0, 8.0, 12.0):
        nats = -math.log(math.erfc(z / math.sqrt(2.0)))
        assert abs(float(novelty_mod.tail_to_z(np.array([nats]))[0]) - z) < 0.01


def test_a_jump_far_beyond_the_range_is_novel_a_hair_beyond_is_not() -> None:
    rng = np.random.default_rng(13)
    values = rng.uniform(10.0, 20.0, (3, 3000))
    top = values[:, :2000].max(axis=1)
    values[0, 2000] = 30.0  # one range above the highest so far
    values[1, 2000] = top[1] + 1e-6  # a new extreme by a hair: 1 in ~1000, not an alarm
    z, _ = novelty_z(values)
    assert z[0, 2000] >= 6.0
    assert z[1, 2000] < 4.0  # (left 0: below z_zero nothing scores)
    assert (z[2] < 4.0).all()  # stationary: new extremes are rare and small


def test_a_trending_series_sets_new_extremes_without_being_novel() -> None:
    rng = np.random.default_rng(14)
    values = np.linspace(0, 500, 4000)[None, :] + rng.normal(0, 1.0, (1, 4000))
    z, _ = novelty_z(values)
    assert (z[0, 200:] < 4.0).all()


def test_novelty_state_carries_across_batches() -> None:
    rng = np.random.default_rng(15)
    values = rng.normal(0, 1, (4, 1500))
    values[:, 1200] += 12.0
    values[2, 100:400] = np.nan
    whole, st_whole = novelty_z(values)
    split, st_split = novelty_z(values, (1, 7, 700, 1200))
    np.testing.assert_array_equal(whole, split)
    for name in ("nov_lo", "nov_hi", "nov_rate", "nov_n"):
        np.testing.assert_array_equal(st_whole[name], st_split[name])
    assert (whole[:, 1200] >= 6.0).all()


def shifted(seed: int = 16) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Two days of noisy readings, then a jump to a level never seen, held (a new normal)."""
    rng = np.random.default_rng(seed)
    ts = timestamps(4, 300.0)
    values = 100.0 + rng.normal(0, 2.0, (3, ts.size))
    at = ts.size // 2
    values[0, at:] += 60.0
    values[1, at] = 400.0  # a single spike
    values[1, at + 10] = 400.0  # and another one right after
    values[2, at + 20 :] -= 60.0
    keys = ["p/m/a", "p/m/b", "p/m/c"]
    return keys, np.broadcast_to(ts, values.shape).copy(), values


def test_one_incident_raises_one_alarm_and_the_next_one_is_heard() -> None:
    keys, ts, values = shifted()
    at = ts.shape[1] // 2
    k = AnomalyConfig().alarm_refractory_readings
    values[1, at + k + 50] = 400.0  # a second incident after the refractory stretch
    batch = AnomalyEngine().score(keys, ts, values)
    alarms = np.flatnonzero(batch.score[1] >= 0.5)
    assert alarms.tolist() == [at, at + k + 50]
    assert 0.25 <= batch.score[1, at + 10] < 0.5  # still flagged, no new alarm
    # a level shift: an alarm at its start, then quiet once it is the new normal
    for row, start in ((0, at), (2, at + 20)):
        over = np.flatnonzero(batch.score[row] >= 0.5)
        assert over.size and over.min() - start in range(0, 3), over
        assert (batch.score[row, start + k + 1 :] < 0.5).all()


def test_hard_verdicts_are_never_held_back() -> None:
    keys, ts, values = shifted()
    at = ts.shape[1] // 2
    engine = AnomalyEngine()
    engine.register_series("p/m/b", lower=0.0, upper=300.0)
    batch = engine.score(keys, ts, values)
    assert batch.score[1, at] == 1.0 and batch.score[1, at + 10] == 1.0
    assert list(batch.detector_names()[1, [at, at + 10]]) == ["limit", "limit"]


def test_causal_and_restartable_through_alarms_and_shifts() -> None:
    keys, ts, values = shifted()
    whole = AnomalyEngine().score(keys, ts, values)
    cut = ts.shape[1] // 2 + 15
    rigged = values.copy()
    rigged[:, cut:] = -1e9
    past = AnomalyEngine().score(keys, ts[:, :cut], values[:, :cut])
    other = AnomalyEngine().score(keys, ts, rigged)
    for batch in (whole, other):
        np.testing.assert_array_equal(batch.score[:, :cut], past.score)
    e = AnomalyEngine()
    parts = []
    for lo, hi in itertools.pairwise([0, 5, 576, 577, cut, ts.shape[1]]):
        e = AnomalyEngine.load(e.save())
        parts.append(e.score(keys, ts[:, lo:hi], values[:, lo:hi]).score)
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole.score)
    assert (whole.score >= 0.5).any()
