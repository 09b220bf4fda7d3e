"""Property tests: additivity, constant-intensity equivalence, counter resets."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from peakline_core.emissions import (
    InstrumentBlock,
    aggregate,
    interval_energy_from_counter,
    rollup,
    scope2_location,
    scope2_market,
)

HOUR_NS = 3_600_000_000_000
kwh = st.floats(0, 1000, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 48)), elements=kwh))
def test_emissions_add_across_sites_and_periods(imports: np.ndarray) -> None:
    sites, steps = imports.shape
    intensity = np.linspace(0.2, 0.8, steps)
    kg = scope2_location(imports, intensity)
    split = steps // 2
    parts = (
        scope2_location(imports[:, :split], intensity[:split]).sum()
        + scope2_location(imports[:, split:], intensity[split:]).sum()
    )
    assert np.isclose(kg.sum(), parts, rtol=1e-12, atol=1e-9)
    city = aggregate(kg.sum(axis=1), np.zeros(sites, dtype=np.int64))
    assert np.isclose(city[0], kg.sum(), rtol=1e-12, atol=1e-9)
    ts = np.arange(steps, dtype=np.int64) * HOUR_NS * 5
    days = rollup(ts, kg, "day", "Asia/Shanghai")
    assert np.allclose(days.values.sum(axis=1), kg.sum(axis=1), rtol=1e-12, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(2, 96)), elements=kwh),
    st.floats(0.01, 1.5),
    st.floats(0, 50_000),
)
def test_hourly_constant_intensity_equals_annual(
    imports: np.ndarray, f: float, cert: float
) -> None:
    hourly = scope2_location(imports, np.full(imports.shape[1], f)).sum(axis=1)
    annual = imports.sum(axis=1) * f
    assert np.allclose(hourly, annual, rtol=1e-12, atol=1e-9)
    # market: chronological matching in blocks equals one block, and the annual formula
    block = InstrumentBlock(np.full((imports.shape[0], 1), cert), np.zeros((imports.shape[0], 1)))
    whole = scope2_market(imports, block, f)
    half = imports.shape[1] // 2
    a = scope2_market(imports[:, :half], block, f)
    b = scope2_market(imports[:, half:], block, f, matched_before=a.matched_after)
    assert np.allclose(a.kg.sum(axis=1) + b.kg.sum(axis=1), whole.kg.sum(axis=1), atol=1e-6)
    expected = (imports.sum(axis=1) - np.minimum(imports.sum(axis=1), cert)) * f
    assert np.allclose(whole.kg.sum(axis=1), expected, rtol=1e-9, atol=1e-6)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.floats(0, 5, allow_nan=False), min_size=2, max_size=60),
    st.lists(st.integers(1, 59), max_size=4),
    st.floats(0, 1e5),
)
def test_counter_resets_never_negative_or_doubled(
    steps: list[float], reset_at: list[int], start: float
) -> None:
    """A counter of true increments `steps`, reset to zero at some readings: the interval
    energy is never negative, and totals never exceed the true energy."""
    true = np.array(steps[1:])
    counter = start + np.concatenate([[0.0], np.cumsum(true)])
    visible = True
    for r in sorted(set(i for i in reset_at if i < len(counter))):
        # the meter restarts from zero and counts this interval's energy again from 0
        counter[r:] = counter[r:] - counter[r - 1] - (counter[r] - counter[r - 1]) + true[r - 1]
        visible &= bool(counter[r] < counter[r - 1])
    ts = np.arange(len(counter), dtype=np.int64) * 900_000_000_000
    e = interval_energy_from_counter(ts, counter)
    assert np.all(e >= 0)
    assert e.sum() <= true.sum() + 1e-6 * max(1.0, true.sum())
    if visible:  # every reset shows as a fall, and the meter restarted from zero
        assert np.isclose(e.sum(), true.sum(), rtol=1e-9, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0, 5, allow_nan=False), min_size=2, max_size=40), st.floats(0, 999_999))
def test_rollover_counts_each_kwh_once(steps: list[float], start: float) -> None:
    rollover = 1_000_000.0
    true = np.array(steps[1:])
    counter = np.mod(start + np.concatenate([[0.0], np.cumsum(true)]), rollover)
    ts = np.arange(len(counter), dtype=np.int64) * 900_000_000_000
    e = interval_energy_from_counter(ts, counter, rollover=rollover)
    assert np.all(e >= 0)
    assert np.allclose(e, true, atol=1e-6)
