"""The SQLite spool: order, sequence numbers across restarts, ack-only deletion, exact drops."""

from __future__ import annotations

from pathlib import Path

import pytest

from peakline_core.wire import Reading, decode_telemetry
from peakline_edge.spool import AsyncSpool, PendingBatch, Spool


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000 * 10**9

    def __call__(self) -> int:
        return self.now


def _batch(device: str, n: int, ts: int = 10**18) -> PendingBatch:
    readings = tuple(Reading(point=f"p{i}", ts=ts + i, value=float(i)) for i in range(n))
    return PendingBatch(site="s1", device=device, readings=readings)


def _spool(path: Path, clock: Clock, **kw: float) -> Spool:
    return Spool(
        path / "spool.db",
        "gw1",
        max_bytes=int(kw.get("max_bytes", 10**9)),
        max_age_s=kw.get("max_age_s", 3600.0),
        clock_ns=clock,
    )


def test_batches_come_back_in_order_with_rising_seq(tmp_path: Path) -> None:
    spool = _spool(tmp_path, Clock())
    spool.append([_batch("a", 2), _batch("b", 3)])
    spool.append([_batch("a", 1)])
    out = spool.peek(10)
    assert [(b.device, b.readings) for b in out] == [("a", 2), ("b", 3), ("a", 1)]
    assert [decode_telemetry(b.payload).seq for b in out] == [1, 2, 3]
    assert spool.stats().readings == 6


def test_seq_keeps_rising_after_restart_even_when_empty(tmp_path: Path) -> None:
    clock = Clock()
    spool = _spool(tmp_path, clock)
    spool.append([_batch("a", 1), _batch("a", 1)])
    spool.ack([b.seq for b in spool.peek(10)])
    spool.close()
    again = _spool(tmp_path, clock)
    assert again.stats().batches == 0
    again.append([_batch("a", 1)])
    assert [b.seq for b in again.peek(10)] == [3]


def test_unacknowledged_batches_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    spool = _spool(tmp_path, clock)
    spool.append([_batch("a", 4), _batch("b", 5)])
    first = spool.peek(1)
    spool.ack([first[0].seq])
    spool.peek(10)  # in flight, never acknowledged
    spool.close()
    again = _spool(tmp_path, clock)
    left = again.peek(10)
    assert [(b.device, b.readings) for b in left] == [("b", 5)]
    assert again.stats().readings == 5


def test_peek_skips_batches_in_flight_until_released(tmp_path: Path) -> None:
    spool = _spool(tmp_path, Clock())
    spool.append([_batch("a", 1), _batch("a", 1)])
    assert [b.seq for b in spool.peek(1)] == [1]
    assert [b.seq for b in spool.peek(5)] == [2]
    assert spool.peek(5) == []
    spool.release([1])
    assert [b.seq for b in spool.peek(5)] == [1]


def test_byte_bound_drops_oldest_and_counts_exactly(tmp_path: Path) -> None:
    clock = Clock()
    probe = _spool(tmp_path / "probe", clock)
    probe.append([_batch("a", 10)])
    one = probe.stats().bytes
    spool = _spool(tmp_path, clock, max_bytes=3 * one + one // 2)
    dropped = []
    for _ in range(5):
        dropped += spool.append([_batch("a", 10)])
    stats = spool.stats()
    assert stats.batches == 3
    assert [b.seq for b in spool.peek(10)] == [3, 4, 5]
    assert sum(d.readings for d in dropped) == 20 == stats.dropped_readings
    assert stats.dropped_batches == 2
    spool.close()
    assert _spool(tmp_path, clock).stats().dropped_readings == 20


def test_batches_in_flight_are_not_dropped(tmp_path: Path) -> None:
    clock = Clock()
    probe = _spool(tmp_path / "probe", clock)
    probe.append([_batch("a", 10)])
    one = probe.stats().bytes
    spool = _spool(tmp_path, clock, max_bytes=2 * one + one // 2)
    spool.append([_batch("a", 10), _batch("a", 10)])
    [flying] = spool.peek(1)
    spool.append([_batch("a", 10)])
    assert [b.seq for b in spool.peek(10)] == [3]  # seq 2 dropped, seq 1 in flight kept
    spool.ack([flying.seq])
    assert spool.stats().dropped_batches == 1


def test_age_bound_expires_old_batches(tmp_path: Path) -> None:
    clock = Clock()
    spool = _spool(tmp_path, clock, max_age_s=60)
    spool.append([_batch("a", 3)])
    clock.now += 30 * 10**9
    spool.append([_batch("b", 2)])
    clock.now += 31 * 10**9
    [dropped] = spool.expire()
    assert (dropped.batches, dropped.readings, dropped.reason) == (1, 3, "age")
    assert [b.device for b in spool.peek(10)] == ["b"]


@pytest.mark.asyncio
async def test_async_spool_round_trip(tmp_path: Path) -> None:
    spool = AsyncSpool(_spool(tmp_path, Clock()))
    await spool.append([_batch("a", 2)])
    assert spool.changed.is_set()
    [b] = await spool.peek(5)
    await spool.ack([b.seq])
    assert (await spool.stats()).batches == 0
    await spool.aclose()
