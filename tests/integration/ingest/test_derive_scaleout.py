"""Issue 17's done-when: derived rows are a deterministic function of the stored readings.

One data set (three meters over three hours, 5 s readings, one with a 30 s spike on every
register, the demo's fault) goes through real mosquitto, `peakline-ingest run` subprocesses
on a shared subscription and a real influxd, in several layouts, each into its own database:

- one worker (which runs the deriver, as deployed by default);
- two workers, one of them running the deriver;
- three workers, one deriver among them, SIGKILLed mid-stream and restarted;
- one worker, with two hours of one meter held back (an edge cut off from the broker) and
  published after the rest has been derived (its spool draining).

Every layout stores the same `energy`, `energy_1h` and `emissions` rows, row by row (to
1e-9 kWh: sums taken in another order differ in the last bits). The data ends 20 s in the
future, so the deriver's forward walk carries the last of it and late marks the rest. Rows
are compared once every message is acknowledged and the deriver has completed a step begun
after that (its `derive_current_seconds` gauge), not when they merely look stable: rows that
stopped changing for a few polls while the deriver had marks left to act on made this test
report a divergence that was only an unfinished derivation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from peakline_core.wire import Reading, TelemetryBatch, Topics
from peakline_ingest.derive.deriver import DeriveSettings
from peakline_testing import configs
from peakline_testing.servers import free_port
from peakline_testing.waiting import wait_until
from tests.integration.ingest.support import (
    IngestProcess,
    Publisher,
    influxql,
    ingest_args,
    telemetry,
)

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]
S = 1_000_000_000
REPO = Path(__file__).resolve().parents[3]
STEP_S = 5
HOURS = 3
METERS = {"m1": ("s1", 120.0), "m2": ("s1", 45.0), "m3": ("s2", 80.0)}  # device: (site, kW)
DERIVED = ("energy", "energy_1h", "emissions")
DERIVE = DeriveSettings()  # the workers run with the defaults: 60 s windows, 10 s lateness


def write_config(root: Path) -> Path:
    (root / "profiles").mkdir(parents=True)
    (root / "profiles" / "sdm630.yaml").write_text(
        (REPO / "config/profiles/sdm630.yaml").read_text()
    )
    (root / "emission-factors").mkdir()
    for f in (REPO / "config/emission-factors").glob("cn-*.yaml"):
        (root / "emission-factors" / f.name).write_text(f.read_text())
    return configs.write_config_dir(
        root,
        programme_doc=configs.programme(city="c", district="d", programme_id="p"),
        sites=[
            configs.site(s, name=s, city="c", district="d", floor_area_m2=4000,
                         grid_region="CN-EAST")
            for s in ("s1", "s2")
        ],
        agents=[configs.agent("mqtt://127.0.0.1:1", agent_id="gw", batch_max_delay_s=None)],
        devices=[
            {"id": d, "site": site, "agent": "gw", "profile": "sdm630",
             "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": 1 + i}}
            for i, (d, (site, _)) in enumerate(METERS.items())
        ],
    )  # fmt: skip


def dataset(end_ns: int) -> list[TelemetryBatch]:
    """One batch per meter per minute: import counter (kWh) and power (W)."""
    n = HOURS * 3600 // STEP_S
    ts = end_ns - (n - 1 - np.arange(n, dtype=np.int64)) * STEP_S * S
    batches = []
    seq = 0
    for device, (site, kw) in METERS.items():
        wobble = 1.0 + 0.3 * np.sin(np.arange(n) / 97.0)
        power = kw * wobble
        counter = 20_000.0 + np.concatenate([[0.0], np.cumsum(power[1:] * STEP_S / 3600)])
        if device == "m1":  # the demo's fault: every register x5 for 30 s
            spike = slice(n // 2, n // 2 + 6)
            counter[spike] *= 5
            power[spike] *= 5
        for lo in range(0, n, 12):
            readings = []
            for i in range(lo, min(n, lo + 12)):
                readings.append(Reading("import_energy", int(ts[i]), float(counter[i])))
                readings.append(Reading("power_total", int(ts[i]), float(power[i] * 1000)))
            batches.append(TelemetryBatch("gw", site, device, seq, int(ts[lo]), readings))
            seq += 1
    return batches


def derived_rows(db: Any) -> dict[tuple[str, str, int], float]:
    out = {}
    for measurement in DERIVED:
        field = "kgco2e" if measurement == "emissions" else "kwh"
        answer = influxql(db, f'SELECT "{field}" FROM "{measurement}" GROUP BY *')
        for series in answer["results"][0].get("series", []):
            tags = ",".join(f"{k}={v}" for k, v in sorted(series["tags"].items()) if v)
            for t, v in series["values"]:
                out[(measurement, tags, int(t))] = float(v)
    return out


@dataclass(frozen=True)
class Db:
    url: str
    database: str


class Layout:
    """Ingest workers for one run, each with its own health port and state dir."""

    def __init__(self, tmp: Path, mosquitto: Any, db: Any, prefix: str, config: Path) -> None:
        self.tmp, self.mosquitto, self.db, self.prefix, self.config = (
            tmp,
            mosquitto,
            db,
            prefix,
            config,
        )
        self.workers: dict[str, IngestProcess] = {}
        self.ports: dict[str, int] = {}
        self.derivers: set[str] = set()

    def start(self, name: str, derive: bool = True) -> None:
        state = self.tmp / name
        state.mkdir(exist_ok=True)
        args = ingest_args(self.mosquitto.url, f"{self.db.url}?db={self.db.database}",
                           self.prefix, state / "state", client_id=name)  # fmt: skip
        port = free_port()
        args += ["--config", str(self.config), "--health-port", str(port)]
        if not derive:
            args.append("--no-derive")
        worker = IngestProcess(args, state)
        worker.start()
        self.workers[name] = worker
        self.ports[name] = port
        if derive:
            self.derivers.add(name)

        def ready() -> bool:  # subscribed: a shared group drops what comes before
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 60, f"{name} subscribed")

    def metric(self, name: str, metric: str) -> float | None:
        """One sample of a worker's /metrics (None while it is down)."""
        try:
            text = httpx.get(f"http://127.0.0.1:{self.ports[name]}/metrics", timeout=2).text
        except httpx.HTTPError:
            return None
        for line in text.splitlines():
            if line.startswith(metric + " "):
                return float(line.split()[1])
        return None

    def stop(self) -> None:
        for w in self.workers.values():
            if w.proc is not None and w.proc.poll() is None:
                w.terminate()


def count(db: Any, measurement: str) -> int:
    answer = influxql(db, f'SELECT count(*) FROM "{measurement}"')
    series = answer["results"][0].get("series")
    return max((int(v) for v in series[0]["values"][0][1:] if v), default=0) if series else 0


def settle(
    db: Any, readings: int, end_ns: int, layout: Layout
) -> dict[tuple[str, str, int], float]:
    """Wait until every reading is stored and acknowledged (so every late mark is written),
    then until the deriver has completed a step begun after that and after the data's end:
    its rows are then final. No guessing from rows that merely stopped changing for a while."""
    try:
        wait_until(lambda: count(db, "reading") >= readings, 180, "every reading stored")
    except Exception as exc:
        logs = {n: w.log[-2000:] for n, w in layout.workers.items()}
        raise AssertionError(
            f"{exc}: stored {count(db, 'reading')} of {readings}; {logs}"
        ) from None
    wait_until(
        lambda: all(
            layout.metric(n, "peakline_ingest_in_flight_messages") == 0 for n in layout.workers
        ),
        60,
        "every worker's messages acknowledged (marks written)",
    )
    # the walks are fed once per closed window, so the window of the last readings reaches
    # them once the deriver's watermark (its clock less the lateness) passes the boundary that
    # closes it; 2 s of slack on the lateness
    closes = (end_ns // (DERIVE.window_s * S) + 1) * DERIVE.window_s
    after = max(time.time(), closes + DERIVE.lateness_s + 2)

    def current() -> bool:
        return all(
            (layout.metric(n, "peakline_ingest_derive_current_seconds") or 0) > after
            for n in layout.derivers
        )

    wait_until(current, 120, "the deriver caught up with every mark and the data's end")
    rows = derived_rows(db)
    assert rows, "no derived rows"
    return rows


def same(a: dict[tuple[str, str, int], float], b: dict[tuple[str, str, int], float]) -> list[Any]:
    """Rows that differ (missing on either side, or by more than 1e-9 relative)."""
    diff: list[Any] = [(k, a.get(k), b.get(k)) for k in a.keys() ^ b.keys()]
    diff += [
        (k, a[k], b[k])
        for k in a.keys() & b.keys()
        if abs(a[k] - b[k]) > 1e-9 * max(1.0, abs(a[k]))
    ]
    return diff


@pytest.fixture
def run(tmp_path: Path, mosquitto: Any, influxd: Any) -> Any:
    config = write_config(tmp_path / "config")
    end = time.time_ns() + 20 * S
    end -= end % S
    batches = dataset(end)
    readings = sum(len(b.readings) for b in batches)
    layouts: list[Layout] = []

    def go(name: str, steps: Any) -> dict[tuple[str, str, int], float]:
        db_name = f"d_{name}_{time.time_ns() % 10**9}"
        influxd.query(f'CREATE DATABASE "{db_name}"')
        db = Db(influxd.url, db_name)
        prefix = f"t{db_name}"
        layout = Layout(tmp_path / db_name, mosquitto, db, prefix, config)
        (tmp_path / db_name).mkdir()
        layouts.append(layout)
        publisher = Publisher(mosquitto.url)
        try:
            steps(
                layout, lambda items: publisher.publish(telemetry(Topics(prefix), items)), batches
            )
            rows = settle(db, readings, end, layout)
            marks = influxql(db, 'SELECT * FROM "late_data" GROUP BY "device", "worker"')
            go.marks[name] = {  # type: ignore[attr-defined]
                (m["tags"]["device"], m["tags"]["worker"][-2:]): (
                    len(m["values"]), (min(v[1] for v in m["values"]) - batches[0].sent) // S)
                for m in marks["results"][0].get("series", [])
            }  # fmt: skip
            go.logs[name] = {  # type: ignore[attr-defined]
                n: [x for x in w.log.splitlines() if "deriv" in x or "error" in x.lower()][-15:]
                for n, w in layout.workers.items()
            }  # type: ignore[attr-defined]
            return rows
        finally:
            publisher.close()

    go.marks = {}  # type: ignore[attr-defined]
    go.logs = {}  # type: ignore[attr-defined]
    yield go
    for layout in layouts:
        layout.stop()


def test_one_two_three_workers_restart_and_outage_store_the_same_derived_rows(run: Any) -> None:
    def one(layout: Layout, publish: Any, batches: list[TelemetryBatch]) -> None:
        layout.start("w1")
        publish(batches)

    def two(layout: Layout, publish: Any, batches: list[TelemetryBatch]) -> None:
        layout.start("w1")
        layout.start("w2", derive=False)
        publish(batches)

    def three_with_a_kill(layout: Layout, publish: Any, batches: list[TelemetryBatch]) -> None:
        layout.start("w1")
        layout.start("w2", derive=False)
        layout.start("w3", derive=False)
        half = len(batches) // 2
        publish(batches[:half])
        layout.workers["w1"].kill()  # the deriver dies mid-stream, unsaved work and all
        publish(batches[half:])
        layout.start("w1")

    def outage(layout: Layout, publish: Any, batches: list[TelemetryBatch]) -> None:
        layout.start("w1")
        cut_lo = batches[0].sent + 30 * 60 * S
        cut_hi = cut_lo + 2 * 3600 * S

        def held(b: TelemetryBatch) -> bool:
            return b.device == "m2" and cut_lo <= b.sent < cut_hi

        publish([b for b in batches if not held(b)])
        # the rest is derived (the deriver spreads m2's two-hour step) before the spool drains
        wait_until(lambda: time.time_ns() > batches[-1].sent + 40 * S, 90, "the rest derived")
        publish([b for b in batches if held(b)])

    baseline = run("one", one)
    assert any(k[0] == "emissions" for k in baseline) and any(k[0] == "energy_1h" for k in baseline)
    spike = [v for k, v in baseline.items() if k[0] == "energy" and "device=m1" in k[1]]
    assert max(spike) < 5.0, "the x5 spike was not counted (m1 draws about 2-3 kWh a minute)"
    diffs = {}
    for name, steps in (("two", two), ("outage", outage), ("three", three_with_a_kill)):
        rows = run(name, steps)
        diff = sorted(same(baseline, rows), key=lambda d: d[0][2])
        first = min(k[2] for k in baseline)
        diffs[name] = [(m, tags, (t - first) // S, x, y) for (m, tags, t), x, y in diff]
    for name, diff in diffs.items():
        assert not diff, (
            f"{name}: {len(diff)} rows differ (measurement, tags, s from the first, one, {name}):"
            f" {diff[:12]}; late marks per (device, worker): {run.marks[name]};"
            f" one's: {run.marks['one']}; deriver logs: {run.logs[name]}"
        )
