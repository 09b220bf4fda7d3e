"""The seasonal profile's working layout (bincache.py) changes speed, never results: a batch
that keeps changing bins works on a [BINS, series] copy of the profile, a batch that changes
bin once keeps the state's [series, BINS] layout, and both give the same bytes."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from peakline_core.anomaly import AnomalyEngine
from peakline_core.anomaly import bincache as bincache_mod
from tests.unit.anomaly.anomaly_synth import building_load, timestamps

ZONES_S = (0, 8 * 3600, 19_800, -5 * 3600, 20_700)  # UTC, +8, +5:30, -5, +5:45


def score(
    monkeypatch: pytest.MonkeyPatch, after: float, cuts: list[int]
) -> tuple[list[Any], list[tuple[str, str, int]], int]:
    """Scores, detectors and state of ten series in five time zones (10-minute readings over
    nine days) scored in batches `cuts`, the profile transposed after `after` batch sizes
    of bin changes; their events; how many batches worked on a transposed profile."""
    monkeypatch.setattr(bincache_mod, "TRANSPOSE_AFTER", after)
    transposed: list[int] = []
    plain = bincache_mod.BinCache._transpose

    def counted(self: bincache_mod.BinCache) -> None:
        transposed.append(self.n)
        plain(self)

    monkeypatch.setattr(bincache_mod.BinCache, "_transpose", counted)
    rng = np.random.default_rng(3)
    t = timestamps(9, 600.0)
    v = building_load(t, 10, rng)
    v[4, 700] *= 4
    v[6, 300:340] = np.nan
    ts = np.broadcast_to(t, v.shape).copy()
    keys = [f"z{i}" for i in range(10)]
    engine = AnomalyEngine()
    for i, key in enumerate(keys):
        engine.register_series(key, utc_offset_s=ZONES_S[i % len(ZONES_S)])
    out: list[Any] = []
    events: list[tuple[str, str, int]] = []
    for lo, hi in itertools.pairwise(cuts):
        batch = engine.score(keys, ts[:, lo:hi], v[:, lo:hi])
        out += [batch.score, batch.detector]
        events += [(e.series, e.kind, e.start_ns) for e in batch.events]
    out += [engine._state.arrays[name].copy() for name in sorted(engine._state.arrays)]
    return out, events, len(transposed)


def test_a_transposed_profile_gives_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    cuts = [0, 5, 6, 400, 401, 1296]  # single readings, long batches across days
    never, never_events, never_done = score(monkeypatch, np.inf, cuts)
    default, default_events, default_done = score(monkeypatch, 1.0, cuts)
    first, first_events, first_done = score(monkeypatch, 0.0, cuts)
    assert never_done == 0
    assert default_done == 2  # the two long batches, not the short ones
    assert first_done == len(cuts) - 1  # every batch, from its first load
    for a, b, c in zip(never, default, first, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert never_events == default_events == first_events
    assert ("z4", "spike") in {(series, kind) for series, kind, _ in never_events}


def test_a_batch_changing_bin_once_keeps_the_state_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # six 10-minute readings: each series changes bin at most once per batch, the zones at
    # different steps (their hours begin at :00, :30, :15)
    _, _, done = score(monkeypatch, 1.0, [0, 100, *range(106, 160, 6)])
    assert done == 1  # the first, long batch only
