"""Issue 21: the scale-out layout on one machine, run rather than described.

A real mosquitto and influxd; three `peakline-ingest run` workers on one shared subscription
(one of them runs the deriver); two `peakline-api run` replicas on one shared state (a real
PostgreSQL: the `api_state_url` fixture) behind nginx (an upstream of both). A district's
traffic (six meters, 90 minutes of 10 s readings, one batch per meter per minute, as the edge
agent publishes it) goes in; then:

- influxd holds every reading once: the count of each series is exact and every value is the
  one sent, and the workers' acknowledged messages add up to the batches sent, each worker
  having taken a share;
- both replicas, asked directly and through the proxy (which is seen to use both), answer the
  same latest readings (the last values sent), the same raw series (the values sent) and the
  same emissions report (each site's energy the meters' counter advance from the first whole
  minute, to 1e-6);
- a key created in the shared state after the replicas started works on both, and once
  revoked works on neither.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from peakline_core.wire import TelemetryBatch, Topics
from peakline_testing.servers import Influxd, Mosquitto, Nginx, free_port
from peakline_testing.waiting import wait_until
from tests.conftest import InfluxDatabase
from tests.integration.deploy.scaleout_support import (
    METERS,
    POINTS,
    ApiReplica,
    S,
    create_key,
    district_traffic,
    revoke_key,
    state_args,
    write_config,
)
from tests.integration.ingest.support import (
    IngestProcess,
    Publisher,
    influx_values,
    influxql,
    ingest_args,
    metric,
    telemetry,
)

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]
WORKERS = ("w1", "w2", "w3")  # w1 runs the deriver (one per deployment)
REPLICAS = ("api-a", "api-b")


@pytest.fixture
def api_state_url(pg_database: str) -> str:
    """Where the API replicas keep keys, the command ledger, retrofits and alert state, shared:
    a fresh database on the session's real PostgreSQL (`peakline-api run --state-url`);
    `state_args` maps it to the command line (a `sqlite:///` URL would share SQLite files)."""
    return pg_database


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / S, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Layout:
    """The processes of one scale-out run, stopped in reverse order at the end."""

    def __init__(self, tmp: Path, mosquitto: Mosquitto, db: InfluxDatabase, prefix: str) -> None:
        self.tmp, self.mosquitto, self.db, self.prefix = tmp, mosquitto, db, prefix
        self.config = write_config(tmp / "config")
        self.workers: dict[str, tuple[IngestProcess, int]] = {}
        self.replicas: dict[str, ApiReplica] = {}
        self.proxy: Nginx | None = None

    def start_worker(self, name: str, derive_from_ns: int) -> None:
        state = self.tmp / name
        state.mkdir()
        port = free_port()
        store = f"{self.db.url}?db={self.db.database}"
        args = [
            *ingest_args(self.mosquitto.url, store, self.prefix, state / "state", client_id=name),
            *("--config", str(self.config), "--health-port", str(port)),
        ]
        if name == WORKERS[0]:
            args += ["--derive-from", iso(derive_from_ns)]
        else:
            args.append("--no-derive")
        worker = IngestProcess(args, state)
        worker.start()
        self.workers[name] = (worker, port)

        def ready() -> bool:  # subscribed: a shared group drops what comes before
            assert worker.proc is not None
            if worker.proc.poll() is not None:
                raise AssertionError(f"{name} exited: {worker.log[-3000:]}")
            try:
                return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 90, f"{name} subscribed")

    def start_replica(self, name: str, state_url: str) -> None:
        args = [
            "--config", str(self.config), "--store", f"{self.db.url}?db={self.db.database}",
            "--broker", self.mosquitto.url, "--topic-prefix", self.prefix,
            *state_args(state_url),
        ]  # fmt: skip
        replica = ApiReplica(name, args, free_port(), self.tmp)
        self.replicas[name] = replica
        replica.start()

    def start_proxy(self) -> Nginx:
        self.proxy = Nginx.create([r.address for r in self.replicas.values()], self.tmp / "nginx")
        self.proxy.start()
        return self.proxy

    def worker_metric(self, name: str, metric_name: str) -> float:
        """A worker's /metrics sample, summed over labels: `name{label="x"}` picks one."""
        if "{" not in metric_name:
            return metric(self.workers[name][1], metric_name)
        text = httpx.get(f"http://127.0.0.1:{self.workers[name][1]}/metrics", timeout=10).text
        lines = [x for x in text.splitlines() if x.startswith(metric_name + " ")]
        return float(lines[0].split()[-1]) if lines else 0.0

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.close()
        for replica in self.replicas.values():
            replica.stop()
        for worker, _ in self.workers.values():
            if worker.proc is not None and worker.proc.poll() is None:
                worker.terminate()


@pytest.fixture
def layout(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd, influx_db: InfluxDatabase
) -> Iterator[Layout]:
    run = Layout(tmp_path, mosquitto, influx_db, f"t{time.time_ns() % 10**12}")
    try:
        yield run
    finally:
        run.stop()


def series_counts(db: InfluxDatabase) -> Counter[tuple[str, str]]:
    answer = influxql(db, 'SELECT count("value") FROM "reading" GROUP BY "device", "point"')
    return Counter(
        {
            (s["tags"]["device"], s["tags"]["point"]): int(s["values"][0][1])
            for s in answer["results"][0].get("series", [])
        }
    )


def expected_counts(batches: list[TelemetryBatch]) -> Counter[tuple[str, str]]:
    return Counter((b.device, r.point) for b in batches for r in b.readings)


def answers(
    url: str, paths: dict[str, str], token: str, client: httpx.Client
) -> dict[str, tuple[Any, str | None]]:
    """{name: (JSON body, the upstream that served it if a proxy said so)}."""
    out = {}
    for name, path in paths.items():
        r = client.get(url + path, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, (url, path, r.status_code, r.text[:500])
        out[name] = (r.json(), r.headers.get("x-upstream"))
    return out


def test_three_workers_two_replicas_behind_a_proxy_lose_nothing_and_agree(
    layout: Layout, api_state_url: str
) -> None:
    end = time.time_ns() - 120 * S
    end -= end % (60 * S)
    batches = district_traffic(end)
    first = min(r.ts for b in batches for r in b.readings)
    for name in WORKERS:
        layout.start_worker(name, derive_from_ns=first - first % (3600 * S))
    token = create_key(api_state_url, "scaleout-viewer")
    for name in REPLICAS:
        layout.start_replica(name, api_state_url)
    proxy = layout.start_proxy()

    publisher = Publisher(layout.mosquitto.url)
    try:
        sent = publisher.publish(telemetry(Topics(layout.prefix), batches))
    finally:
        publisher.close()
    assert sent == len(batches)

    # --- storage: every reading once, every value the one sent -----------------------------
    expected = expected_counts(batches)
    total = sum(expected.values())
    wait_until(lambda: sum(series_counts(layout.db).values()) >= total, 180, "every reading stored")
    wait_until(
        lambda: all(
            layout.worker_metric(n, "peakline_ingest_in_flight_messages") == 0 for n in WORKERS
        ),
        60,
        "every worker's messages acknowledged",
    )
    assert series_counts(layout.db) == expected
    stored = influx_values(layout.db)
    assert stored == {(b.device, r.point, r.ts): r.value for b in batches for r in b.readings}
    taken = {
        n: layout.worker_metric(n, 'peakline_ingest_messages_total{outcome="stored"}')
        for n in WORKERS
    }
    assert sum(taken.values()) == len(batches), taken  # none redelivered, none dropped
    assert all(v > 0 for v in taken.values()), f"a worker took no share: {taken}"

    # --- the deriver has caught up with everything stored (the report reads its rows) ----
    after = time.time()
    wait_until(
        lambda: layout.worker_metric(WORKERS[0], "peakline_ingest_derive_current_seconds") > after,
        180,
        "the deriver past every stored reading",
    )

    # --- every replica, and the proxy, answer the same ---------------------------------------
    devices = "&".join(f"device={d}" for d in METERS)
    report_start = first - first % (3600 * S)
    report_end = end + 3600 * S
    paths = {
        "latest": f"/api/v1/readings/latest?{devices}&limit=1000",
        "series": f"/api/v1/series?{devices}&point=power_total&start={iso(first)}"
        f"&end={iso(end + S)}",
        "report": f"/api/v1/reports/emissions?level=site&start={iso(report_start)}"
        f"&end={iso(report_end)}",
    }
    with httpx.Client(timeout=60) as client:
        direct = {n: answers(r.url, paths, token, client) for n, r in layout.replicas.items()}
        via_proxy = [answers(proxy.url, paths, token, client) for _ in range(6)]
    reference = {k: body for k, (body, _) in direct[REPLICAS[0]].items()}
    for name in REPLICAS[1:]:
        for k, (body, _) in direct[name].items():
            assert body == reference[k], f"{name} answers {k} differently from {REPLICAS[0]}"
    upstreams = set()
    for round_ in via_proxy:
        for k, (body, upstream) in round_.items():
            assert body == reference[k], f"through the proxy ({upstream}), {k} differs"
            upstreams.add(upstream)
    assert upstreams == {r.address for r in layout.replicas.values()}, upstreams

    # ... and what they agree on is what was sent
    last = {(b.device, r.point): r for b in batches for r in b.readings}  # batches in time order
    latest = {
        (i["device"], i["point"]): (i["t_ms"], i["value"]) for i in reference["latest"]["items"]
    }
    assert latest == {k: (r.ts // 1_000_000, r.value) for k, r in last.items()}
    assert {(d, p) for d in METERS for p in POINTS} == set(latest)
    sent_power = {
        d: [
            r.value
            for b in batches
            if b.device == d
            for r in b.readings
            if r.point == "power_total"
        ]
        for d in METERS
    }
    got_power = {s["device"]: s["values"] for s in reference["series"]["series"]}
    assert reference["series"]["window"] is None and got_power == sent_power
    report = {
        row["id"]: row["energy_kwh"].get("import", 0.0) for row in reference["report"]["items"]
    }
    # Energy is counted from the first whole minute: the deriver's first window (readings from
    # 10 s past the minute) has no reading at its start to count from.
    baseline_ts = first - first % (60 * S) + 60 * S
    for site in {s for s, _ in METERS.values()}:
        advance = 0.0
        for device in (d for d, (s, _) in METERS.items() if s == site):
            counter = [
                (r.ts, r.value)
                for b in batches
                if b.device == device
                for r in b.readings
                if r.point == "import_energy"
            ]
            advance += counter[-1][1] - max(c for c in counter if c[0] <= baseline_ts)[1]
        assert report[site] == pytest.approx(advance, rel=1e-6), (site, report, advance)

    # --- the replicas share their state: a key made now works on both, then on neither -----
    late = create_key(api_state_url, "scaleout-late")
    with httpx.Client(timeout=30) as client:
        for replica in layout.replicas.values():
            r = client.get(
                replica.url + paths["latest"], headers={"Authorization": f"Bearer {late}"}
            )
            assert r.status_code == 200, (replica.name, r.text)
        revoke_key(api_state_url, late)
        for url in [r.url for r in layout.replicas.values()] + [proxy.url]:
            r = client.get(url + paths["latest"], headers={"Authorization": f"Bearer {late}"})
            assert r.status_code == 401, (url, r.status_code)
