"""Going live after a coarse history: readings every 10 s after two days of 14-minute ones.

The demo backfills a week at ~14-minute steps, then polls every 10 s; imported 15-minute
utility exports followed by live polling do the same. A counter with a 0.1 kWh register read
every 10 s moves by 0 or one step per reading (0 or 36 kW at 25 kW), and a temperature with a
0.1 degC register repeats for minutes: neither is an anomaly. A counter's rate is modelled
over spans long enough for its register, and stillness is learnt per second, not per reading.
"""

from __future__ import annotations

import numpy as np
import pytest

from peakline_core.anomaly import AnomalyEngine
from tests.unit.anomaly.anomaly_synth import NS, START_NS

HISTORY_STEP_S = 840  # the demo's backfill step for a week (about 1/700 of it)
LIVE_STEP_S = 10
HISTORY_DAYS = 2
KW = 25.0  # the UPS's IT load
COUNTER, TEMP = "office/ups/total", "office/hvac/supply_temp"


def timeline() -> tuple[np.ndarray, int]:
    """Two days of 14-minute readings, then an hour of 10-second ones; and go-live (UTC ns)."""
    history = np.arange(0, HISTORY_DAYS * 86400, HISTORY_STEP_S, dtype=np.int64)
    live_start = int(history[-1]) + HISTORY_STEP_S
    live = live_start + np.arange(0, 3600, LIVE_STEP_S, dtype=np.int64)
    return START_NS + np.concatenate([history, live]) * NS, START_NS + live_start * NS


def ups_counter(ts: np.ndarray, fault_from_ns: int | None = None) -> np.ndarray:
    """kWh register (uint32 x 0.1) of a 25 kW load with a little wander; x5 from the fault."""
    t_s = (ts - ts[0]) / NS
    kw = KW * (1 + 0.02 * np.sin(2 * np.pi * t_s / 86400))
    if fault_from_ns is not None:
        kw = np.where(ts >= fault_from_ns, 5 * kw, kw)
    dt_h = np.diff(t_s, prepend=t_s[0]) / 3600
    return np.floor((50_000 + np.cumsum(kw * dt_h)) * 10 + 1e-9) / 10


def supply_temperature(ts: np.ndarray) -> np.ndarray:
    """degC register (int16 x 0.1): a slow daily swing with a slower wander, no flicker."""
    t_s = (ts - ts[0]) / NS
    wander = 0.3 * np.sin(2 * np.pi * t_s / (5.3 * 3600))
    return np.round(16 + 2.0 * np.sin(2 * np.pi * t_s / 86400) + wander, 1)


def score(engine: AnomalyEngine, ts: np.ndarray, live_start: int, values: np.ndarray):
    """Score the history in one batch, then the live hour in 10-second batches (as ingest
    does); returns the live readings' scores and every event opened live."""
    keys = [COUNTER, TEMP]
    ts2 = np.broadcast_to(ts, values.shape).copy()
    cut = int(np.searchsorted(ts, live_start))
    engine.score(keys, ts2[:, :cut], values[:, :cut])
    scores, events = [], []
    for t in range(cut, ts.size):
        batch = engine.score(keys, ts2[:, t : t + 1], values[:, t : t + 1])
        scores.append(batch.score[:, 0])
        events += [e for e in batch.events if e.state == "open"]
    return np.array(scores).T, events


@pytest.mark.parametrize("declared", [False, True], ids=["learnt", "declared"])
def test_going_live_at_10_s_after_a_14_minute_history_raises_nothing(declared: bool) -> None:
    ts, live_start = timeline()
    engine = AnomalyEngine()
    if declared:  # as ingest declares them from the device profile's scale
        engine.register_series(COUNTER, counter=True, resolution=0.1)
        engine.register_series(TEMP, resolution=0.1)
    else:
        engine.register_series(COUNTER, counter=True)
    values = np.stack([ups_counter(ts), supply_temperature(ts)])
    # the live hour really is what broke the old model: 0 or 0.1 kWh per reading, and
    # temperatures held for minutes
    live = values[:, ts >= live_start]
    assert set(np.round(np.diff(live[0]), 3)) <= {0.0, 0.1, 0.2}
    assert (np.diff(live[1]) == 0).mean() > 0.8
    scores, events = score(engine, ts, live_start, values)
    assert events == [], events
    assert np.nanmax(scores) < 0.5
    # every reading still counts as one: nothing is silent, the expected rate is the load's
    last = int(ts[-1])
    assert engine.silent(last + 20 * NS)[0] == []
    expected = engine.expectations([COUNTER]).get(COUNTER)
    assert expected is not None and expected.last_ts == last
    assert expected.low is not None and expected.high is not None
    assert 0.9 * KW < expected.low * 3600 <= expected.high * 3600 < 1.1 * KW


def test_a_counter_going_5x_at_10_s_polls_is_still_found_within_minutes() -> None:
    """The other side: the counter's modelled rate does not hide a real change of load."""
    ts, live_start = timeline()
    fault = live_start + 40 * 60 * NS
    engine = AnomalyEngine()
    engine.register_series(COUNTER, counter=True)
    values = np.stack([ups_counter(ts, fault), supply_temperature(ts)])
    _, events = score(engine, ts, live_start, values)
    on_counter = [e for e in events if e.series == COUNTER]
    assert on_counter, events
    assert fault <= on_counter[0].start_ns <= fault + 120 * NS
    assert not [e for e in events if e.series == TEMP]


def test_a_state_saved_before_counter_anchors_loads_and_scores_as_the_new_one() -> None:
    """The state format is additive: a state written before `anchor_*`, `step_min`,
    `resolution` and `p_dt` existed loads with them derived (a counter's next rate spans
    from its last reading, a visited bin's mean interval is the learnt interval), and on a
    regular history scores the next readings exactly as a state that always had them."""
    import io

    ts, live_start = timeline()
    values = np.stack([ups_counter(ts), supply_temperature(ts)])
    keys = [COUNTER, TEMP]
    ts2 = np.broadcast_to(ts, values.shape).copy()
    cut = int(np.searchsorted(ts, live_start)) - 30  # the last 14-minute readings, then live
    engine = AnomalyEngine()
    engine.register_series(COUNTER, counter=True)
    engine.score(keys, ts2[:, :cut], values[:, :cut])
    saved = engine.save()
    added = ("anchor_ts", "anchor_sum", "step_min", "resolution", "p_dt")
    with np.load(io.BytesIO(saved)) as npz:
        older = {k: npz[k] for k in npz.files if k not in added}
    buf = io.BytesIO()
    np.savez_compressed(buf, allow_pickle=False, **older)
    migrated = AnomalyEngine.load(buf.getvalue())
    visited = migrated._state.arrays["p_visits"] > 0
    assert (migrated._state.arrays["p_dt"][visited] == HISTORY_STEP_S).all()
    current = AnomalyEngine.load(saved)
    a = current.score(keys, ts2[:, cut:], values[:, cut:])
    b = migrated.score(keys, ts2[:, cut:], values[:, cut:])
    np.testing.assert_array_equal(a.score, b.score)
    np.testing.assert_array_equal(a.detector, b.detector)
    for name, arr in current._state.arrays.items():
        if name != "p_dt":  # the per-bin mean interval: one learnt interval for every bin
            np.testing.assert_array_equal(arr, migrated._state.arrays[name], err_msg=name)
