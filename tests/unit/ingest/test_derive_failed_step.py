"""A derivation step that fails part-way (the store refuses a write after the walks took
their windows) loses nothing: the next step re-derives every source from the failed step's
start and the rows equal an uninterrupted run's. The failing store is our own seam around
the real SQLite store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peakline_core.storage import Row, RowBlock, SeriesQuery, StoreUnavailable
from peakline_core.storage.schema import ENERGY, READING
from peakline_ingest.derive import Deriver, DeriveSettings, EnergySource
from peakline_store.sqlite import SqliteStore

S = 1_000_000_000
T0 = 1_767_225_600 * S
SOURCE = EnergySource("s1", "m1", "import_energy", "import", "counter", 1.0)


class FailingOnce(SqliteStore):
    """Refuses the first write of energy rows after `arm()` (a store outage mid-step)."""

    armed = False

    def arm(self) -> None:
        self.armed = True

    async def write(self, rows: list[Row]) -> None:  # type: ignore[override]
        if self.armed and any(r.measurement == ENERGY for r in rows):
            self.armed = False
            raise StoreUnavailable("down for this write", 0.1)
        await super().write(rows)


async def seed(store: SqliteStore) -> None:
    n = 30 * 60 // 5
    ts = T0 + np.arange(n, dtype=np.int64) * 5 * S
    counter = 1_000.0 + np.arange(n) * 90.0 * 5 / 3600  # 90 kW
    await store.write_blocks([RowBlock(
        READING, [{"site": "s1", "device": "m1", "point": "import_energy"}],
        np.zeros(n, np.intp), {"value": counter, "quality": np.zeros(n, np.int64)}, ts,
    )])  # fmt: skip


async def energy(store: SqliteStore) -> dict[int, float]:
    (s,) = await store.query(SeriesQuery(ENERGY, "kwh", T0 - 3600 * S, T0 + 7200 * S))
    return {int(t): float(v) for t, v in zip(s.times, s.values, strict=True)}


async def run(store: SqliteStore, fail_at: int | None) -> dict[int, float]:
    await seed(store)
    d = Deriver(store, [SOURCE], {}, None, DeriveSettings())
    d.start_at(T0)
    now = T0
    while now < T0 + 32 * 60 * S:
        now += 2 * S
        if fail_at is not None and now == fail_at and isinstance(store, FailingOnce):
            store.arm()
        try:
            await d.step_to(now)
        except StoreUnavailable:
            pass  # the run loop counts it and tries again on the next tick
    got = await energy(store)
    await store.aclose()
    return got


async def test_a_failed_step_is_re_derived_and_loses_no_window(tmp_path: Path) -> None:
    baseline = await run(SqliteStore(tmp_path / "a.db"), None)
    failing = FailingOnce(tmp_path / "b.db")
    got = await run(failing, T0 + 10 * 60 * S + 20 * S)  # the step closing minute 10's window
    assert not failing.armed, "the write did fail once"
    assert len(baseline) == 28 and got == baseline
    # minutes 1-28 at 90 kW: the first window is partial (not written), the last still open
    assert sum(baseline.values()) == pytest.approx(90 * 28 / 60)
