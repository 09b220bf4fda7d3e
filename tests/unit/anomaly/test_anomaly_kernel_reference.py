"""The optimized detector loop computes exactly what the plain per-step recursion computes.

`reference_kernel.run` is the straightforward version (every step gathers its seasonal bins
from the profile and scatters them back); the engine's kernel keeps each series' current bin
in working vectors, precomputes what needs no recursion and finishes outputs after the loop.
Scores, detectors, events and every byte of carried state must be equal, on data built to
hit the corners: ragged rows with junk timestamps on missing readings, irregular sampling,
quantized values (flatlines), counters with a reset and a rollover, coarse counters going
from 14-minute to 10-second readings (anchored rates, rounding floor), physical limits, and
batches cut into chunks of odd sizes, and five weeks of half-hourly readings (every bin past its
memory of visits) with a gap in every series at once, series in five time zones (their
bins change at different steps, a half-hour and a 45-minute zone between readings), and
series polled on one period each on its own clock.
"""

from __future__ import annotations

import itertools
import types

import numpy as np
import pytest

from peakline_core.anomaly import AnomalyEngine
from peakline_core.anomaly import engine as engine_mod
from tests.unit.anomaly import reference_kernel
from tests.unit.anomaly.anomaly_synth import NS, START_NS, building_load, temperature, timestamps


def corner_cases() -> list[tuple[list[str], np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    ts = timestamps(9, 300.0)
    v = building_load(ts, 6, rng)
    v[0, 1000] *= 2
    v[1, 1200:1300] = v[1, 1200]  # stuck
    v[2, rng.choice(ts.size, 300, replace=False)] = np.nan
    v[2, 2000] = 9000.0  # above its limit
    v[3, 500:700] = np.nan
    v[4] = np.round(v[4])  # quantized: runs of unchanged values
    ts2 = np.broadcast_to(ts, v.shape).copy()
    ts2[5] = np.maximum.accumulate(ts + rng.integers(0, 200, ts.size) * NS)  # irregular
    ts2[3, 500:700] = 0  # junk timestamps where there is no reading
    loads = ([f"s{i}" for i in range(6)], ts2, v)
    t = timestamps(4, 60.0)
    temps = temperature(t, 4, rng)
    quantized = ([f"t{i}" for i in range(4)], np.broadcast_to(t, temps.shape).copy(), temps)
    t = timestamps(5, 900.0)
    c = np.cumsum(rng.uniform(0, 5, (3, t.size)), axis=1)
    c[1, 200:] -= 300  # reset
    c[2, 300:] -= 1e3  # rollover at 1e3
    c[2, ::7] = np.nan
    counters = ([f"c{i}" for i in range(3)], np.broadcast_to(t, c.shape).copy(), c)
    # going live: coarse counters (0.1 steps) read every 14 minutes for a day, then every
    # 10 s: their rates are measured from anchors several steps back, with a rounding floor
    t = np.concatenate([timestamps(1.2, 840.0), timestamps(0.15, 10.0, START_NS + 105_000 * NS)])
    kw = rng.uniform(20, 60, (3, 1)) * (1 + 0.1 * rng.standard_normal((3, t.size)))
    kw[1, -200:-150] *= 5  # a real change of load, live
    kw[2, -400:] = 0.0  # a still counter: rate 0 over its longest span
    dt_h = np.diff(t, prepend=t[0]) / NS / 3600
    live = np.floor((1e4 + np.cumsum(kw * dt_h, axis=1)) * 10 + 1e-9) / 10
    live[0, -700:-650] = np.nan  # missing readings between anchors
    going_live = ([f"g{i}" for i in range(3)], np.broadcast_to(t, live.shape).copy(), live)
    # five weeks: bins past their memory of visits (the profile's rates stop changing)
    t = timestamps(36, 1800.0)
    t[1200:] += 4 * 3600 * NS  # a gap in all of them: one shared interval column
    long = building_load(t, 3, rng)
    long[1, 1500] *= 3
    settled = ([f"w{i}" for i in range(3)], np.broadcast_to(t, long.shape).copy(), long)
    # one clock, five time zones (see new_engine): bins per series, not one per step
    t = timestamps(10, 600.0)
    zoned = building_load(t, len(ZONES_H), rng)
    zoned[2, 900] *= 3
    zones = ([f"z{i}" for i in range(len(ZONES_H))], np.broadcast_to(t, zoned.shape).copy(), zoned)
    # one period, each series on its own clock (seconds apart): one interval and, but for
    # the steps where some series has crossed the hour, one bin per step
    t = timestamps(3, 60.0)
    own = t[None, :] + np.array([0, 7, 31, 59])[:, None] * NS
    clocked = building_load(t, 4, rng)
    clocked[1, 2000] *= 3
    clocks = ([f"k{i}" for i in range(4)], own, clocked)
    return [loads, quantized, counters, going_live, settled, zones, clocks]


ZONES_H = (0.0, 8.0, 5.5, -5.0, 5.75)


def new_engine() -> AnomalyEngine:
    e = AnomalyEngine()
    e.register_series("s2", lower=0, upper=5000)
    e.register_series("c0", counter=True)
    e.register_series("c1", counter=True, max_rate=1.0)
    e.register_series("c2", counter=True, rollover=1e3)
    e.register_series("g0", counter=True, resolution=0.1)
    e.register_series("g1", counter=True)  # resolution learnt from its 10-second steps
    e.register_series("g2", counter=True, resolution=0.1)
    for i, hours in enumerate(ZONES_H):
        e.register_series(f"z{i}", utc_offset_s=int(hours * 3600))
    return e


def score_all(
    keys: list[str], ts: np.ndarray, v: np.ndarray, cuts: list[int]
) -> tuple[list[np.ndarray], list[tuple[str, str, int, int | None]], dict[str, np.ndarray]]:
    e = new_engine()
    out, events = [], []
    for lo, hi in itertools.pairwise(cuts):
        e = AnomalyEngine.load(e.save())
        batch = e.score(keys, ts[:, lo:hi], v[:, lo:hi])
        out += [batch.score, batch.detector]
        events += [(ev.series, ev.kind, ev.start_ns, ev.end_ns) for ev in batch.events]
    return out, events, e._state.arrays


@pytest.mark.parametrize("chunk", [1 << 18, 37 * 6 + 5])
def test_optimized_kernel_equals_the_plain_recursion(monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(engine_mod, "CHUNK_READINGS", chunk)
    plain = types.SimpleNamespace(run=lambda st, p, cfg, bins: reference_kernel.run(st, p, cfg))
    kinds: set[str] = set()
    for keys, ts, v in corner_cases():
        cuts = [0, 1, 7, 300, 301, v.shape[1]]
        fast = score_all(keys, ts, v, cuts)
        with monkeypatch.context() as m:
            m.setattr(engine_mod, "kernel", plain)
            slow = score_all(keys, ts, v, cuts)
        for a, b in zip(fast[0], slow[0], strict=True):
            np.testing.assert_array_equal(a, b)
        assert fast[1] == slow[1]
        kinds |= {kind for _, kind, _, _ in fast[1]}
        for name, arr in fast[2].items():
            np.testing.assert_array_equal(arr, slow[2][name], err_msg=name)
    assert {"spike", "flatline", "gap", "limit", "counter_reset", "rollover"} <= kinds, kinds


def test_seasonal_bins_are_local_hour_and_day_type() -> None:
    from datetime import UTC, datetime

    from peakline_core.anomaly.prepare import seasonal_bins

    rng = np.random.default_rng(5)
    narrow = rng.integers(480_000, 480_050, (2, 500))  # a batch: looked up from a table
    wide = rng.integers(-50, 600_000, (2, 500))  # e.g. junk timestamps: computed directly
    for hours in (narrow, wide):
        bins = seasonal_bins(hours)
        for h, b in zip(hours.ravel().tolist(), bins.ravel().tolist(), strict=True):
            stamp = datetime.fromtimestamp(h * 3600, UTC)
            assert b == stamp.hour + 24 * (stamp.weekday() >= 5)
