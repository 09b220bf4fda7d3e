"""Helpers for ingest integration tests: telemetry generation, publishing, ingest subprocesses."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from peakline_core.wire import Reading, TelemetryBatch, Topics, encode
from peakline_testing.servers import free_port
from peakline_testing.waiting import wait_until

S = 1_000_000_000
T0 = 1_700_000_000 * 1_000_000_000  # 2023-11-14T22:13:20Z, UTC ns
BIN = Path(sys.executable).parent / "peakline-ingest"


def make_batch(
    agent: str, site: str, device: str, seq: int, points: int, t0: int
) -> TelemetryBatch:
    """A batch whose values encode (seq, point) so a test can check every stored value."""
    readings = [Reading(f"p{i}", t0 + seq * S, seq * 1000.0 + i + 0.25) for i in range(points)]
    return TelemetryBatch(agent, site, device, seq, t0 + seq * S, readings)


@dataclass
class Publisher:
    """A synchronous paho client publishing QoS 1 and waiting for every PUBACK."""

    url: str
    client: mqtt.Client = field(init=False)

    def __post_init__(self) -> None:
        host, port = self.url.removeprefix("mqtt://").split(":")
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(host, int(port))
        self.client.loop_start()

    def publish(self, items: Iterable[tuple[str, bytes]]) -> int:
        infos = [self.client.publish(topic, payload, qos=1) for topic, payload in items]
        for info in infos:
            info.wait_for_publish(timeout=60)
        return len(infos)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def telemetry(topics: Topics, batches: Iterable[TelemetryBatch]) -> list[tuple[str, bytes]]:
    return [(topics.telemetry(b.site, b.device), encode(b)) for b in batches]


@dataclass
class IngestProcess:
    """`peakline-ingest run` as a child process (so a test can SIGKILL it)."""

    args: list[str]
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = open(self.workdir / "ingest.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [str(BIN), "run", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # the log is current when a test reads it
        )
        log.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def terminate(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(60)
        return self.proc.returncode

    @property
    def log(self) -> str:
        return (self.workdir / "ingest.log").read_text(errors="replace")


def ingest_args(
    broker_url: str, store_url: str, prefix: str, state_dir: Path, client_id: str = "w1", **kw: str
) -> list[str]:
    args = [
        "--broker", broker_url, "--store", store_url, "--topic-prefix", prefix,
        "--client-id", f"{prefix}-{client_id}", "--state-dir", str(state_dir),
        "--batch-delay-s", "0.05", "--max-past-s", str(10 * 365 * 86400),
    ]  # fmt: skip
    for k, v in kw.items():
        args += [f"--{k.replace('_', '-')}", v]
    return args


def influx_values(db: object, measurement: str = "reading") -> dict[tuple[str, str, int], float]:
    """{(device, point, ts): value} of everything stored."""
    out = influxql(db, f'SELECT "value" FROM "{measurement}" GROUP BY "device", "point"')
    got: dict[tuple[str, str, int], float] = {}
    for series in out["results"][0].get("series", []):
        tags = series["tags"]
        for t, v in series["values"]:
            got[(tags["device"], tags["point"], t)] = v
    return got


def influx_count(db: object) -> int:
    out = influxql(db, 'SELECT count("value") FROM "reading"')
    series = out["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def expected_values(batches: Iterable[TelemetryBatch]) -> dict[tuple[str, str, int], float]:
    return {(b.device, r.point, r.ts): float(r.value) for b in batches for r in b.readings}  # type: ignore[arg-type]


def influxql(db: object, q: str) -> dict:  # type: ignore[type-arg]
    """Run InfluxQL against the test database with integer ns times."""
    r = httpx.post(
        f"{db.url}/query",  # type: ignore[attr-defined]
        params={"db": db.database, "epoch": "ns"},  # type: ignore[attr-defined]
        data={"q": q},
        timeout=60,
    )
    r.raise_for_status()
    return r.json()  # type: ignore[no-any-return]


def metric(port: int, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    total = 0.0
    for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M):
        total += float(m.group(1))
    return total


def start(args: list[str], tmp: Path, name: str) -> tuple[IngestProcess, int]:
    port = free_port()
    (tmp / name).mkdir(exist_ok=True)
    proc = IngestProcess([*args, "--health-port", str(port)], tmp / name)
    proc.start()
    wait_until(lambda: ingest_ready(port) or proc.proc.poll() is not None, 60, f"{name} ready")
    assert proc.proc.poll() is None, proc.log  # type: ignore[union-attr]
    return proc, port


def ingest_ready(port: int) -> bool:
    """Whether the ingest process behind health `port` answers /readyz with 200."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def store_url(db: object) -> str:
    return f"{db.url}?db={db.database}"  # type: ignore[attr-defined]
