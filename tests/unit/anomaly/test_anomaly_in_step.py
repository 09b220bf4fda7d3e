"""Series read in step take shortcuts outside the detector loop (prepare.py: time-only fields as
one column broadcast across series; rates.py: one column of counts); they must give exactly
what the general path gives. The general path is forced by handing `prepare` the timestamps
as a full array (not one shared row), on the same readings. Series on their own clocks keep
what is common to a step (its interval, its local hour) as a column too; the full arrays
must give the same bytes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from peakline_core.anomaly import AnomalyEngine
from peakline_core.anomaly import engine as engine_mod
from peakline_core.anomaly import prepare as prepare_mod
from peakline_core.anomaly.config import AnomalyConfig
from peakline_core.anomaly.prepare import Prepared
from tests.unit.anomaly.anomaly_synth import building_load, temperature, timestamps


def in_step_batches() -> tuple[list[str], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(21)
    ts = timestamps(4, 300.0)
    values = np.concatenate([building_load(ts, 8, rng), temperature(ts, 4, rng)])
    values[0, 700] *= 4  # a spike, then a new extreme
    values[1, 800:] += 400.0  # a level shift to where it has never been
    values[2, 900:960] = values[2, 900]  # stuck: repeats in an otherwise changing batch
    values[3, 1000] = 9000.0  # above its limit
    values[4, 300:] *= 1.0 + np.arange(values.shape[1] - 300) / 200  # rising: new extremes
    keys = [f"site/dev{i // 4}/p{i % 4}" for i in range(values.shape[0])]
    return keys, np.broadcast_to(ts, values.shape).copy(), values


def new_engine(keys: list[str]) -> AnomalyEngine:
    e = AnomalyEngine()
    e.register_series(keys[3], lower=0, upper=5000)
    e.register_series(keys[5], max_rate=0.05)
    e.register_series(keys[6], utc_offset_s=3600)  # series of the batch with other offsets
    return e


def score_all(keys: list[str], ts: np.ndarray, values: np.ndarray) -> tuple[list, dict]:
    e = new_engine(keys)
    out: list = []
    for lo, hi in itertools.pairwise([0, 1, 2, 290, 300, 1100, values.shape[1]]):
        batch = e.score(keys, ts[:, lo:hi], values[:, lo:hi])
        out += [batch.score, batch.detector]
        out += [(v.series, v.kind, v.start_ns, v.end_ns, v.peak_score) for v in batch.events]
    return out, e._state.arrays


@pytest.mark.parametrize("chunk", [1 << 18, 12 * 7])
def test_series_read_in_step_score_as_the_general_path(monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(engine_mod, "CHUNK_READINGS", chunk)
    keys, ts, values = in_step_batches()
    shared = []
    real_prepare = prepare_mod.prepare

    def spy(
        st: dict[str, np.ndarray],
        ts_st: np.ndarray,
        values_st: np.ndarray,
        valid_st: np.ndarray | None,
        cfg: AnomalyConfig,
    ) -> Prepared:
        shared.append(ts_st.strides[0] == 0)
        return real_prepare(st, ts_st, values_st, valid_st, cfg)

    monkeypatch.setattr(engine_mod, "prepare", spy)
    fast, fast_state = score_all(keys, ts, values)
    assert all(shared)  # every chunk took the in-step path
    monkeypatch.setattr(engine_mod, "shared_timestamps", lambda stamps: stamps)
    general, general_state = score_all(keys, ts, values)
    assert not any(shared[len(shared) // 2 :])
    assert len(fast) == len(general)
    for a, b in zip(fast, general, strict=True):
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b
    assert {"spike", "limit", "rate"} & {x[1] for x in fast if isinstance(x, tuple)}
    for name, arr in fast_state.items():
        np.testing.assert_array_equal(arr, general_state[name], err_msg=name)
        assert arr.tobytes() == general_state[name].tobytes(), name


def own_clock_batches() -> tuple[list[str], np.ndarray, np.ndarray]:
    """Series polled every 5 minutes, each on its own clock (seconds to minutes apart), one
    missing readings for a while."""
    rng = np.random.default_rng(22)
    ts = timestamps(4, 300.0)
    values = building_load(ts, 6, rng)
    values[1, 700] *= 4
    values[4, 400:420] = np.nan  # a gap: that chunk's intervals differ between series
    own = ts[None, :] + np.array([0, 3, 41, 59, 170, 420])[:, None] * 1_000_000_000
    return [f"site/clock{i}/p" for i in range(values.shape[0])], own, values


def score_clocks(keys: list[str], ts: np.ndarray, values: np.ndarray) -> tuple[list, dict]:
    e = AnomalyEngine()
    e.register_series(keys[2], lower=0, upper=5000)
    out: list = []
    for lo, hi in itertools.pairwise([0, 1, 2, 290, 300, values.shape[1]]):
        batch = e.score(keys, ts[:, lo:hi], values[:, lo:hi])
        out += [batch.score, batch.detector]
        out += [(v.series, v.kind, v.start_ns, v.end_ns, v.peak_score) for v in batch.events]
    return out, e._state.arrays


@pytest.mark.parametrize("chunk", [1 << 18, 6 * 11])
def test_series_on_their_own_clocks_take_columns_that_change_nothing(
    monkeypatch, chunk: int
) -> None:
    """One interval per step, or one local hour per step, is kept as a [T, 1] column
    (prepare._intervals, prepare._step_bins); the full arrays give the same bytes."""
    monkeypatch.setattr(engine_mod, "CHUNK_READINGS", chunk)
    keys, ts, values = own_clock_batches()
    columns: list[tuple[bool, bool]] = []
    real_prepare = prepare_mod.prepare

    def spy(*args: object) -> Prepared:
        p = real_prepare(*args)  # type: ignore[arg-type]
        columns.append((p.bins.shape[1] == 1, prepare_mod.narrow(p.dt_s).shape[1] == 1))
        return p

    monkeypatch.setattr(engine_mod, "prepare", spy)
    fast, fast_state = score_clocks(keys, ts, values)
    assert (True, True) in columns  # both columns were taken for some chunk
    if chunk < 1 << 10:  # and not where a gap or an hour's start falls between the clocks
        assert any(not b for b, _ in columns) and any(not d for _, d in columns)
    monkeypatch.setattr(
        prepare_mod,
        "_step_bins",
        lambda local: prepare_mod.seasonal_bins(local // prepare_mod.NS_PER_HOUR),
    )
    monkeypatch.setattr(
        prepare_mod,
        "_intervals",
        lambda dt_ns, has_dt, all_dt: np.where(has_dt, dt_ns / prepare_mod.NS_PER_S, np.nan),
    )
    columns.clear()
    full, full_state = score_clocks(keys, ts, values)
    assert not any(b or d for b, d in columns)
    assert len(fast) == len(full)
    for a, b in zip(fast, full, strict=True):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b
    for name, arr in fast_state.items():
        assert arr.tobytes() == full_state[name].tobytes(), name
