"""Operator feedback: a dismissed pattern stops raising events on its series, a clearly worse
deviation still raises one, and the table is rebuilt from verdicts alone (restart)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from peakline_core.anomaly import AnomalyConfig, AnomalyEngine, AnomalyEvent
from peakline_core.anomaly.feedback import Dismissal, DismissalTable, dismissed_band, widen

NS = 1_000_000_000
T0 = 1_767_225_600 * NS
KEY = "s1/m1/voltage_l1"
CFG = AnomalyConfig(event_quiet_s=0.0, event_quiet_readings=3)


def engine() -> AnomalyEngine:
    e = AnomalyEngine(CFG)
    e.register_series(KEY, lower=0.0, upper=480.0)
    e.register_series("s1/m1/voltage_l2", lower=0.0, upper=480.0)
    return e


def voltage(n: int, faults: dict[int, float], seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    values = 230.0 + rng.normal(0, 1.0, n)
    for at, v in faults.items():
        values[at] = v
    ts = T0 + np.arange(n, dtype=np.int64) * 60 * NS
    return ts, values


def opened(e: AnomalyEngine, ts: np.ndarray, values: np.ndarray, key: str = KEY) -> list[int]:
    """Start times (reading index) of the events opened on `key` by this batch."""
    batch = e.score([key], ts[None, :], values[None, :])
    starts = {ev.start_ns for ev in batch.events if ev.series == key}
    return sorted(int((s - T0) // (60 * NS)) for s in starts)


def dismissal_at(since_index: int, key: str = KEY) -> Dismissal:
    low, high = dismissed_band([500.0], 500.0, 0.0, 480.0)
    return Dismissal(key, "limit", T0 + since_index * 60 * NS, low, high, 1.0)


def test_band_known_answers() -> None:
    # wholly above the expected range: extended down to its upper edge
    assert dismissed_band([500.0, 490.0], 505.0, 0.0, 480.0) == (480.0, 505.0)
    # wholly below it: extended up to its lower edge
    assert dismissed_band([2.0, 4.0], None, 10.0, 20.0) == (2.0, 10.0)
    # straddling it, or with nothing expected: the values seen
    assert dismissed_band([15.0, 100.0], 100.0, 10.0, 20.0) == (15.0, 100.0)
    assert dismissed_band([7.0, float("nan")]) == (7.0, 7.0)
    assert all(math.isnan(v) for v in dismissed_band([]))
    assert widen(480.0, 500.0, 0.25) == (475.0, 505.0)
    assert widen(100.0, 100.0, 0.25) == (97.5, 102.5)  # a single value: a tenth of it


def test_a_dismissed_pattern_is_quiet_and_a_worse_one_raises() -> None:
    ts, values = voltage(600, {100: 500.0, 300: 500.0, 350: 497.0, 500: 700.0})
    e = engine()
    assert opened(e, ts[:200], values[:200]) == [100]
    e.set_dismissals(DismissalTable([dismissal_at(200)]))
    # the same over-voltage and a milder one open nothing; 700 V is outside the band
    assert opened(e, ts[200:], values[200:]) == [500]


def test_without_the_dismissal_every_fault_raises() -> None:
    ts, values = voltage(600, {100: 500.0, 300: 500.0, 350: 497.0, 500: 700.0})
    assert opened(engine(), ts, values) == [100, 300, 350, 500]


def test_a_dismissal_applies_from_when_it_was_given_and_to_its_series_only() -> None:
    ts, values = voltage(600, {100: 500.0, 300: 500.0})
    e = engine()
    e.set_dismissals(DismissalTable([dismissal_at(200)]))
    assert opened(e, ts, values) == [100]  # before the verdict: raised; after: quiet
    other = "s1/m1/voltage_l2"
    assert opened(e, ts, values, other) == [100, 300]


def test_another_detector_on_the_series_is_not_dismissed() -> None:
    ts, values = voltage(400, {300: 500.0})
    e = engine()
    d = dismissal_at(0)
    e.set_dismissals(DismissalTable([Dismissal(d.series, "spike", d.since_ns, d.low, d.high, 1.0)]))
    assert opened(e, ts, values) == [300]


def test_a_dismissal_without_a_band_caps_by_score() -> None:
    ts, values = voltage(400, {300: 500.0})
    nan = float("nan")
    e = engine()
    e.set_dismissals(DismissalTable([Dismissal(KEY, "limit", T0, nan, nan, 0.9)]))
    assert opened(e, ts, values) == [300]  # a limit scores 1.0, above 0.9 + 0.05
    e = engine()
    e.set_dismissals(DismissalTable([Dismissal(KEY, "limit", T0, nan, nan, 1.0)]))
    assert opened(e, ts, values) == []


def test_an_open_event_closes_once_its_pattern_is_dismissed() -> None:
    ts, values = voltage(400, {})
    values[100:300] = 500.0  # a long over-voltage: one event, open at the split
    e = engine()
    batch = e.score([KEY], ts[None, :150], values[None, :150])
    assert [(ev.state, ev.start_ns) for ev in batch.events] == [("open", int(ts[100]))]
    e.set_dismissals(DismissalTable([dismissal_at(150)]))
    batch = e.score([KEY], ts[None, 150:], values[None, 150:])
    [closed] = batch.events
    assert closed.state == "closed" and closed.start_ns == int(ts[100])
    assert closed.end_ns is not None and closed.end_ns < int(ts[160])


def test_state_rebuilt_from_the_verdicts_gives_the_same_events() -> None:
    """A restart: the engine's saved state carries no verdicts; the same table applied to
    the loaded engine gives exactly the events of an uninterrupted run."""
    ts, values = voltage(900, {100: 500.0, 300: 500.0, 450: 499.0, 700: 800.0})
    table = DismissalTable([dismissal_at(200)])

    def events(batch_events: list[AnomalyEvent]) -> list[tuple[str, int, int | None]]:
        # an event opened and closed in one batch is reported closed only: compare closes
        return [(e.series, e.start_ns, e.end_ns) for e in batch_events if e.state == "closed"]

    whole = engine()
    whole.set_dismissals(table)
    expected = events(whole.score([KEY], ts[None, :], values[None, :]).events)
    first = engine()
    first.set_dismissals(table)
    got = events(first.score([KEY], ts[None, :400], values[None, :400]).events)
    restarted = AnomalyEngine.load(first.save())
    forgot = AnomalyEngine.load(first.save())
    restarted.set_dismissals(DismissalTable([dismissal_at(200)]))
    got += events(restarted.score([KEY], ts[None, 400:], values[None, 400:]).events)
    assert got == expected
    assert [t for _, t, _ in expected] == [int(ts[100]), int(ts[700])]
    # without the verdicts the loaded engine raises the dismissed pattern again: the table
    # is rebuilt from the store, not carried in the state
    lost = forgot.score([KEY], ts[None, 400:], values[None, 400:]).events
    assert int(ts[450]) in {e.start_ns for e in lost}


def test_only_the_latest_dismissals_per_series_are_kept() -> None:
    ds = [dismissal_at(i) for i in range(6)]
    table = DismissalTable(ds, slots=4)
    slots = table.take(table.rows_of([KEY, "nobody"]))
    assert slots is not None
    assert slots.cols.tolist() == [0]  # "nobody" has none: not compared at all
    assert slots.since[0].tolist() == [d.since_ns for d in ds[2:]]
    assert table.take(table.rows_of(["nobody"])) is None
    assert len(DismissalTable([Dismissal(KEY, "no-such-detector", 0, 1.0, 2.0, 1.0)])) == 0


@pytest.mark.parametrize("split", [1, 7, 50])
def test_scoring_is_split_invariant_with_dismissals(split: int) -> None:
    ts, values = voltage(300, {40: 500.0, 120: 500.0, 200: 650.0})
    table = DismissalTable([dismissal_at(60)])
    whole = engine()
    whole.set_dismissals(table)
    expected = whole.score([KEY], ts[None, :], values[None, :])
    parts = engine()
    parts.set_dismissals(table)
    scores, found = [], []
    for lo in range(0, ts.size, split):
        b = parts.score([KEY], ts[None, lo : lo + split], values[None, lo : lo + split])
        scores.append(b.score[0])
        found += [(e.start_ns, e.end_ns) for e in b.events if e.state == "closed"]
    np.testing.assert_array_equal(np.concatenate(scores), expected.score[0])
    closed = [(e.start_ns, e.end_ns) for e in expected.events if e.state == "closed"]
    assert found == closed and [s for s, _ in closed] == [int(ts[40]), int(ts[200])]
