"""Helpers for the bad-input tests: an ingest worker on a health port, Prometheus counters by
label, a dead-letter listener, and every row of every measurement of a test database."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import httpx
import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from peakline_core.wire import DeadLetter
from peakline_testing.servers import free_port
from peakline_testing.waiting import wait_until
from tests.integration.edge.edge_harness import AgentProcess
from tests.integration.ingest.support import IngestProcess, influxql

Row = tuple[float | None, str | None, int]  # value, text, quality
RowKey = tuple[str, str, str, int]  # site, device, point, ts


def counters(url: str, name: str, label: str) -> Counter[str]:
    """{label value: count} of one Prometheus counter family at `url` (/metrics)."""
    text = httpx.get(url, timeout=10).text
    out: Counter[str] = Counter()
    pattern = rf'^{name}\{{(?:[^}}]*,)?{label}="([^"]*)"[^}}]*\}} ([0-9.e+]+)$'
    for m in re.finditer(pattern, text, re.M):
        out[m.group(1)] += int(float(m.group(2)))
    return out


def healthy(port: int, path: str = "/readyz") -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def start_ingest(args: list[str], workdir: Path) -> tuple[IngestProcess, int]:
    """`peakline-ingest run` with a health port, once it is ready."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = IngestProcess([*args, "--health-port", str(port)], workdir)
    proc.start()
    assert proc.proc is not None
    wait_until(lambda: healthy(port) or proc.proc.poll() is not None, 60, "ingest ready")  # type: ignore[union-attr]
    assert proc.proc.poll() is None, proc.log
    return proc, port


class DeadLetterListener:
    """Collects dead letters published on one topic (QoS 1)."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.letters: list[DeadLetter] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.connect(host, port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        wait_until(self._subscribed.is_set, 20, "dead-letter subscription")

    def _on_message(self, client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        letter = msgspec.json.decode(message.payload, type=DeadLetter)
        with self._lock:
            self.letters.append(letter)

    def count(self) -> int:
        with self._lock:
            return len(self.letters)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def measurements(db: object) -> list[str]:
    out = influxql(db, "SHOW MEASUREMENTS")
    series = out["results"][0].get("series") or []
    return [v[0] for s in series for v in s["values"]]


def reading_rows(db: object) -> dict[RowKey, Row]:
    """Every row of `reading`: {(site, device, point, ts): (value, text, quality)}."""
    q = 'SELECT "value", "text", "quality" FROM "reading" GROUP BY "site", "device", "point"'
    rows: dict[RowKey, Row] = {}
    for series in influxql(db, q)["results"][0].get("series", []):
        tags = series["tags"]
        for ts, value, text, quality in series["values"]:
            key = (tags["site"], tags["device"], tags["point"], ts)
            assert key not in rows
            # InfluxDB's JSON prints big floats as integers (1.8e19 as 18446744073709552000)
            rows[key] = (None if value is None else float(value), text, quality)
    return rows


def series_keys(db: object, measurement: str) -> list[RowKey]:
    """(site, device, point, ts) of every row of a per-point measurement (anomaly_score...)."""
    q = f'SELECT * FROM "{measurement}" GROUP BY "site", "device", "point"'
    keys = []
    for series in influxql(db, q)["results"][0].get("series", []):
        tags = series["tags"]
        keys += [(tags["site"], tags["device"], tags["point"], row[0]) for row in series["values"]]
    return keys


def row_count(db: object) -> int:
    out = influxql(db, 'SELECT count("quality") FROM "reading"')
    series = out["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def start_agent(config: Path, workdir: Path, metrics_port: int) -> AgentProcess:
    """`peakline-edge run` for agent gw1 with its Prometheus metrics on `metrics_port`."""
    workdir.mkdir(parents=True, exist_ok=True)
    agent = AgentProcess(config, workdir / "state", workdir / "agent.log")
    command = [
        str(Path(sys.executable).parent / "peakline-edge"), "run", "--config", str(config),
        "--agent", "gw1", "--state-dir", str(agent.state), "--metrics-port", str(metrics_port),
    ]  # fmt: skip
    with open(agent.log, "ab") as log:
        agent.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    return agent
