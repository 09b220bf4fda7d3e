"""Wall-clock ticks, staggering and the availability state machine (pure, no clock)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from peakline_edge.schedule import NS, Availability, DeviceState, next_tick, stagger_offset_ns


def test_ticks_fall_on_boundaries_plus_offset() -> None:
    t, due = next_tick(1000 * NS + 300_000_000, [NS, 60 * NS], 250_000_000)
    assert (t, due) == (1001 * NS + 250_000_000, {NS})


def test_slow_and_fast_intervals_coincide_on_the_minute() -> None:
    t, due = next_tick(59 * NS + 500_000_000, [NS, 60 * NS], 0)
    assert (t, due) == (60 * NS, {NS, 60 * NS})


def test_a_late_cycle_skips_missed_ticks() -> None:
    t, _ = next_tick(1_000_000 * NS + 7, [10 * NS], 3)
    assert t == 1_000_010 * NS + 3


@given(st.integers(0, 10**18), st.sampled_from([NS, 5 * NS, 60 * NS]), st.text(min_size=1))
def test_next_tick_is_in_the_future_within_one_interval(now: int, interval: int, key: str) -> None:
    offset = stagger_offset_ns(key, interval)
    assert 0 <= offset < interval
    t, due = next_tick(now, [interval], offset)
    assert now < t <= now + interval
    assert (t - offset) % interval == 0 and due == {interval}


def test_stagger_spreads_devices() -> None:
    offsets = {stagger_offset_ns(f"meter-{i}", NS) // (NS // 10) for i in range(200)}
    assert len(offsets) == 10  # every tenth of the second gets some devices


def test_unavailable_after_n_failures_logged_once_and_probe_backs_off() -> None:
    a = Availability(fail_after=3, probe_min_s=5, probe_max_s=20)
    assert [a.record(False, i * NS) for i in range(3)] == [None, None, DeviceState.UNAVAILABLE]
    assert a.next_probe_ns == 2 * NS + 5 * NS
    assert a.record(False, 10 * NS) is None
    assert a.next_probe_ns == 20 * NS
    a.record(False, 20 * NS)
    a.record(False, 40 * NS)
    assert a.next_probe_ns == 60 * NS  # capped at 20 s
    assert a.record(True, 61 * NS) is DeviceState.ONLINE
    assert a.record(True, 62 * NS) is None and a.available
