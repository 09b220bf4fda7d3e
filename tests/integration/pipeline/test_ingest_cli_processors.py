"""`peakline-ingest run --config ...` as processes, as deployed for a backfill: a worker with
`--no-derive` stores two days of history; a worker running the deriver (the default) from
`--derive-from` the history's start derives and scores all of it in order (energy windows,
hourly emissions, a score per reading, an event for the spike near the end), saves its state
on SIGTERM, restores it on the next start and scores live readings from there."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from peakline_core.config import load_config
from peakline_core.wire import Reading, TelemetryBatch, Topics, encode
from peakline_testing.waiting import wait_until
from tests.integration.ingest.support import IngestProcess, Publisher, ingest_args

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[3]
S = 1_000_000_000
STEP_S = 300


def batches(
    agent: str, site: str, device: str, t0: int, n: int, seq0: int, step_s: int = STEP_S
) -> list[TelemetryBatch]:
    rng = np.random.default_rng(seq0)
    out = []
    for i in range(n):
        t = t0 + i * step_s * S
        power = 20_000 + 2_000 * np.sin((seq0 + i) / 40) + rng.normal(0, 150)
        power *= 5 if n - 100 <= i < n - 97 else 1  # a three-reading spike
        out.append(TelemetryBatch(agent, site, device, seq0 + i, t, [
            Reading("power_total", t, float(power)),
            Reading("import_energy", t, 1000.0 + i * 0.05),
        ]))  # fmt: skip
    return out


FIELD = {
    "reading": "value",
    "energy": "kwh",
    "emissions": "kgco2e",
    "anomaly_score": "score",
    "anomaly_event": "state",
}


def count(db: Path, measurement: str) -> int:
    """Stored points of `measurement` in the SQLite store (read-only, beside the worker)."""
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        try:
            q = ("SELECT count(*) FROM samples JOIN series ON series.id = samples.series_id "
                 "WHERE series.measurement = ? AND samples.field = ?")  # fmt: skip
            return int(conn.execute(q, (measurement, FIELD[measurement])).fetchone()[0])
        except sqlite3.OperationalError:  # tables not created yet
            return 0


def test_cli_processors_store_and_resume(tmp_path: Path, mosquitto: Any, topic_prefix: str) -> None:
    platform = load_config(REPO / "config")
    meter = platform.devices["school-meter"]
    db, state = tmp_path / "store.db", tmp_path / "state"
    t0 = time.time_ns() - 610 * STEP_S * S  # two days of history
    t0 -= t0 % S
    topics = Topics(topic_prefix)
    publisher = Publisher(mosquitto.url)
    workers: list[IngestProcess] = []

    def start(name: str, *extra: str) -> IngestProcess:
        args = ingest_args(mosquitto.url, f"sqlite:///{db}", topic_prefix, tmp_path / name,
                           client_id=name, config=str(REPO / "config"))  # fmt: skip
        if name == "deriver":
            args = ingest_args(mosquitto.url, f"sqlite:///{db}", topic_prefix, state,
                               client_id=name, config=str(REPO / "config"))  # fmt: skip
        worker = IngestProcess(args + list(extra), tmp_path / name)
        workers.append(worker)
        log = tmp_path / name / "ingest.log"
        seen = len(worker.log.split("subscribed")) if log.exists() else 1
        worker.start()
        # a shared subscription keeps nothing published before it exists
        wait_until(lambda: len(worker.log.split("subscribed")) > seen, 60, f"{name} subscribed")
        return worker

    try:
        (tmp_path / "store-only").mkdir()
        (tmp_path / "deriver").mkdir()
        start("store-only", "--no-derive")
        first = batches(meter.agent, meter.site, meter.id, t0, 600, 1)
        publisher.publish((topics.telemetry(b.site, b.device), encode(b)) for b in first)
        wait_until(lambda: count(db, "reading") >= 1200, 60, "the history stored")
        assert count(db, "energy") == count(db, "anomaly_score") == 0  # workers derive nothing

        since = datetime.fromtimestamp(t0 / S - 60, tz=UTC).isoformat()
        deriver = start("deriver", "--derive-from", since)
        wait_until(lambda: count(db, "anomaly_score") >= 1200, 90, "score rows")
        wait_until(lambda: count(db, "energy") >= 599 * 5 - 5, 60, "energy rows")  # 1-min windows
        assert deriver.terminate() == 0, deriver.log
        assert (state / "anomaly" / "anomaly-state.npz").exists(), deriver.log
        assert (state / "derive" / "derive-state.json").exists(), deriver.log
        assert count(db, "anomaly_event") >= 1, deriver.log  # the spike near the end
        assert count(db, "emissions") >= 48  # hourly, location-based, over two days

        again = start("deriver")
        live = time.time_ns() + 5 * S
        more = batches(meter.agent, meter.site, meter.id, live - live % S, 10, 601, step_s=2)
        publisher.publish((topics.telemetry(b.site, b.device), encode(b)) for b in more)
        wait_until(lambda: count(db, "anomaly_score") >= 1220, 90, "live scores after restart")
        assert again.terminate() == 0
        assert "anomaly state restored" in again.log
    finally:
        publisher.close()
        for w in workers:
            if w.proc is not None and w.proc.poll() is None:
                w.kill()
