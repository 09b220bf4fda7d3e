"""The vectorized counter and market paths against plain per-reading reference loops."""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from peakline_core.emissions import InstrumentBlock, interval_energy_from_counter, scope2_market

Q_NS = 900_000_000_000


def _counter_reference(row: list[float]) -> list[float]:
    """Spans between consecutive valid readings, spread evenly; a fall counts from zero."""
    out = [math.nan] * (len(row) - 1)
    valid = [i for i, v in enumerate(row) if math.isfinite(v)]
    for a, b in itertools.pairwise(valid):
        delta = row[b] - row[a]
        if delta < 0:
            delta = max(row[b], 0.0)
        for i in range(a, b):
            out[i] = delta / (b - a)
    return out


def _market_reference(imports: list[float], volumes: list[float], factors: list[float], res: float):
    """Interval by interval: fill each instrument's remaining volume in order, rest at res."""
    left = list(volumes)
    kg = []
    for e in imports:
        todo, total = e, 0.0
        for j, f in enumerate(factors):
            take = min(todo, left[j])
            left[j] -= take
            todo -= take
            total += take * f
        kg.append(total + todo * res)
    return kg


readings = st.lists(st.one_of(st.floats(0, 1e4), st.just(math.nan)), min_size=2, max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.lists(readings, min_size=1, max_size=4).filter(lambda r: len({len(x) for x in r}) == 1))
def test_counter_matches_reference(rows: list[list[float]]) -> None:
    c = np.array(rows, dtype=np.float64)
    ts = np.arange(c.shape[1], dtype=np.int64) * Q_NS
    got = interval_energy_from_counter(ts, c)
    want = np.array([_counter_reference(r) for r in rows])
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0, 50), min_size=1, max_size=60),
    st.lists(st.tuples(st.floats(0, 200), st.floats(0, 1)), max_size=4),
    st.floats(0, 1),
)
def test_market_matches_reference(
    imports: list[float], instruments: list[tuple[float, float]], res: float
) -> None:
    vol = [v for v, _ in instruments]
    fac = [f for _, f in instruments]
    block = InstrumentBlock(np.array([vol]).reshape(1, -1), np.array([fac]).reshape(1, -1))
    got = scope2_market(np.array([imports]), block, res)
    want = _market_reference(imports, vol, fac, res)
    np.testing.assert_allclose(got.kg[0], want, rtol=1e-9, atol=1e-7)
