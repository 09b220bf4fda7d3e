"""`peakline-ingest run --config ...` as a process: both processors are on by default, store
scores and energy, save the anomaly state on SIGTERM and restore it on the next start."""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from peakline_cli.servers import wait_until
from peakline_core.config import load_config
from peakline_core.wire import Reading, TelemetryBatch, Topics, encode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "ingest"))
from support import IngestProcess, Publisher, ingest_args

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[3]
S = 1_000_000_000
STEP_S = 300


def batches(agent: str, site: str, device: str, t0: int, n: int, seq0: int) -> list[TelemetryBatch]:
    rng = np.random.default_rng(seq0)
    out = []
    for i in range(n):
        t = t0 + i * STEP_S * S
        power = 20_000 + 2_000 * np.sin((seq0 + i) / 40) + rng.normal(0, 150)
        power *= 5 if n - 100 <= i < n - 97 else 1  # a three-reading spike
        out.append(TelemetryBatch(agent, site, device, seq0 + i, t, [
            Reading("power_total", t, float(power)),
            Reading("import_energy", t, 1000.0 + i * 0.05),
        ]))  # fmt: skip
    return out


FIELD = {"energy": "kwh", "emissions": "kgco2e", "anomaly_score": "score", "anomaly_event": "state"}


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
    args = ingest_args(mosquitto.url, f"sqlite:///{db}", topic_prefix, state,
                       config=str(REPO / "config"))  # fmt: skip
    topics = Topics(topic_prefix)
    publisher = Publisher(mosquitto.url)
    t0 = time.time_ns() - 610 * STEP_S * S  # two days of history
    workers: list[IngestProcess] = []

    def start() -> IngestProcess:
        worker = IngestProcess(args, tmp_path)
        workers.append(worker)
        seen = len(worker.log.split("subscribed")) if (tmp_path / "ingest.log").exists() else 1
        worker.start()
        # a shared subscription keeps nothing published before it exists
        wait_until(lambda: len(worker.log.split("subscribed")) > seen, 60, "ingest subscribed")
        return worker

    try:
        worker = start()
        first = batches(meter.agent, meter.site, meter.id, t0, 600, 1)
        publisher.publish((topics.telemetry(b.site, b.device), encode(b)) for b in first)
        wait_until(lambda: count(db, "energy") >= 599, 60, "energy rows")
        wait_until(lambda: count(db, "anomaly_score") >= 1180, 60, "score rows")
        assert worker.terminate() == 0, worker.log
        assert (state / "anomaly" / "anomaly-state.npz").exists(), worker.log
        assert count(db, "anomaly_event") >= 1, worker.log  # the spike near the end
        assert count(db, "emissions") >= 2 * 599

        again = start()
        more = batches(meter.agent, meter.site, meter.id, t0 + 600 * STEP_S * S, 10, 601)
        publisher.publish((topics.telemetry(b.site, b.device), encode(b)) for b in more)
        wait_until(lambda: count(db, "anomaly_score") >= 1200, 60, "scores after restart")
        assert again.terminate() == 0
        assert "anomaly state restored" in again.log
    finally:
        publisher.close()
        for w in workers:
            if w.proc is not None and w.proc.poll() is None:
                w.kill()
