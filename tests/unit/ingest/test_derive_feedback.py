"""The deriver honours operators' false alarms read from the store, across a restart: the
anomaly state saved to disk carries no verdicts, and the restarted deriver reads them back
before it scores anything (under the test's own clock, on the embedded SQLite store)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peakline_core.anomaly import AnomalyConfig, AnomalyEngine
from peakline_core.storage import Row, RowBlock, SeriesQuery
from peakline_core.storage.schema import ANOMALY_EVENT, ANOMALY_FEEDBACK, READING
from peakline_core.wire import Topics
from peakline_ingest.derive import Deriver, DeriveSettings
from peakline_ingest.processors_anomaly import AnomalyProcessor
from peakline_store.sqlite import SqliteStore

S = 1_000_000_000
T0 = 1_767_225_600 * S
TAGS = {"site": "s1", "device": "m1", "point": "voltage_l1"}
SETTINGS = DeriveSettings(lateness_s=1.0, feedback_s=3600.0)


def readings() -> RowBlock:
    """300 one-second readings, 500 V (over the 480 V limit) at 100 s and again at 200 s."""
    rng = np.random.default_rng(5)
    values = 230.0 + rng.normal(0, 1.0, 300)
    values[[100, 200]] = 500.0
    ts = T0 + np.arange(300, dtype=np.int64) * S
    return RowBlock(READING, [TAGS], np.zeros(300, np.intp),
                    {"value": values, "quality": np.zeros(300, np.int64)}, ts)  # fmt: skip


def verdict(kind: str) -> Row:
    """What the API stores for a false alarm on the event at 100 s, given at 150 s."""
    return Row(ANOMALY_FEEDBACK, {**TAGS, "kind": "limit"}, {
        "event_id": "ev-0", "verdict": kind, "note": "", "by": "op", "detector": "limit",
        "given": T0 + 150 * S, "lead": 1, "peak": 1.0, "low": 480.0, "high": 500.0,
    }, T0 + 100 * S)  # fmt: skip


def processor(state: Path) -> AnomalyProcessor:
    engine = AnomalyEngine(AnomalyConfig(event_quiet_s=0.0, event_quiet_readings=3))
    engine.register_series("s1/m1/voltage_l1", lower=0.0, upper=480.0)
    return AnomalyProcessor(Topics("pl"), engine, state)


async def event_starts(store: SqliteStore) -> list[int]:
    got = await store.query(SeriesQuery(ANOMALY_EVENT, "state", T0, T0 + 3600 * S))
    return sorted(int((t - T0) // S) for s in got for t in s.times)


@pytest.mark.parametrize(("stored", "expected"), [
    ("false_alarm", [100]), ("confirmed", [100, 200]), (None, [100, 200]),
])  # fmt: skip
async def test_a_restarted_deriver_reads_the_verdicts_before_scoring(
    tmp_path: Path, stored: str | None, expected: list[int]
) -> None:
    store = SqliteStore(tmp_path / "store.db")
    try:
        await store.write_blocks([readings()])
        first = Deriver(store, [], {}, None, SETTINGS, tmp_path / "derive",
                        processor(tmp_path / "anomaly"))  # fmt: skip
        first.start_at(T0)
        await first.step_to(T0 + 152 * S)  # scored up to 151 s
        assert await event_starts(store) == [100]
        if stored is not None:  # the operator's verdict, stored while the deriver is down
            await store.write([verdict(stored)])
        first.save()
        restored = AnomalyProcessor.restore(Topics("pl"), tmp_path / "anomaly")
        again = Deriver(store, [], {}, None, SETTINGS, tmp_path / "derive", restored)
        again.load()
        assert again.watermark == T0 + 151 * S
        await again.step_to(T0 + 302 * S)  # scored to the end (no silence yet)
        assert await event_starts(store) == expected
    finally:
        await store.aclose()
