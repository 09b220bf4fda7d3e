"""The deriver under a test's own clock: a restart from a checkpoint, with readings stored
late on both sides of it, writes the same energy rows as one uninterrupted deriver.

The layout of tests/integration/ingest/test_derive_scaleout.py's "three workers, deriver
killed" run, in-process and deterministic: three meters, three hours of 5 s readings, batches
of 12 readings stored device by device (all of them late, as a published backlog is), the
deriver killed (no final save) after the first half and restarted from its checkpoint."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from peakline_core.storage import RowBlock, SeriesQuery
from peakline_core.storage.schema import ENERGY, READING
from peakline_ingest.derive import Deriver, DeriveSettings, EnergySource, LateMarks
from peakline_store.sqlite import SqliteStore

S = 1_000_000_000
END = 1_767_225_600 * S + 1234 * S  # not aligned to a window
METERS = {"m1": ("s1", 120.0), "m2": ("s1", 45.0), "m3": ("s2", 80.0)}
SOURCES = [EnergySource(site, d, "import_energy", "import", "counter", 1.0)
           for d, (site, _) in METERS.items()]  # fmt: skip


def batches() -> list[RowBlock]:
    n = 3 * 3600 // 5
    ts = END - (n - 1 - np.arange(n, dtype=np.int64)) * 5 * S
    out = []
    for device, (site, kw) in METERS.items():
        power = kw * (1.0 + 0.3 * np.sin(np.arange(n) / 97.0))
        counter = 20_000.0 + np.concatenate([[0.0], np.cumsum(power[1:] * 5 / 3600)])
        for lo in range(0, n, 12):
            sl = slice(lo, min(n, lo + 12))
            out.append(RowBlock(
                READING, [{"site": site, "device": device, "point": "import_energy"}],
                np.zeros(sl.stop - sl.start, np.intp),
                {"value": counter[sl], "quality": np.zeros(sl.stop - sl.start, np.int64)},
                ts[sl].copy(),
            ))  # fmt: skip
    return out


async def store_late(store: SqliteStore, blocks: list[RowBlock], now: int) -> None:
    """Each batch stored, then its mark, stamped by a clock that moves on (1 ms a batch)."""
    for i, b in enumerate(blocks):
        marks = LateMarks("w", 10.0, clock_ns=lambda i=i: now + i * 1_000_000)
        await store.write_blocks([b])
        await store.write(marks.process([], b).rows)


async def energy_rows(store: SqliteStore) -> dict[tuple[str, int], float]:
    got = await store.query(SeriesQuery(ENERGY, "kwh", END - 5 * 3600 * S, END + 3600 * S))
    return {
        (s.tags["device"], t): float(v) for s in got for t, v in zip(s.times, s.values, strict=True)
    }


async def run_until(deriver: Deriver, now: int, until: int) -> int:
    while now < until:
        now += 2 * S
        await deriver.step_to(now)
    return now


async def test_a_restart_from_the_checkpoint_writes_what_one_run_writes(tmp_path: Path) -> None:
    data = batches()
    now = END - 20 * S  # the backlog reaches 20 s past the clock, as in the integration test

    one = SqliteStore(tmp_path / "one.db")
    d1 = Deriver(one, SOURCES, {}, None, DeriveSettings(), tmp_path / "st1")
    await store_late(one, data, now)
    await run_until(d1, now, now + 90 * S)
    baseline = await energy_rows(one)

    three = SqliteStore(tmp_path / "three.db")
    first = Deriver(three, SOURCES, {}, None, DeriveSettings(), tmp_path / "st3")
    half = len(data) // 2
    await store_late(three, data[:half], now)
    t = await run_until(first, now, now + 6 * S)  # checkpointed at its first step, then killed
    await store_late(three, data[half:], t)
    again = Deriver(three, SOURCES, {}, None, DeriveSettings(), tmp_path / "st3")
    again.load()
    await run_until(again, t, now + 90 * S)
    rows = await energy_rows(three)
    await one.aclose()
    await three.aclose()

    assert len(baseline) > 3 * 170  # every meter's windows over three hours
    first_t = min(t for _, t in baseline)
    diff = sorted(
        (d, (t - first_t) // S, baseline.get((d, t)), rows.get((d, t)))
        for d, t in baseline.keys() | rows.keys()
        if baseline.get((d, t)) is None
        or rows.get((d, t)) is None
        or abs(baseline[(d, t)] - rows[(d, t)]) > 1e-9
    )
    assert not diff, (
        f"{len(diff)} windows differ (device, s after the first, one, three): {diff[:8]}"
    )
