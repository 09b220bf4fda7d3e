"""End-to-end ingest throughput: publishers -> mosquitto -> peakline-ingest -> influxd.

Starts a throwaway mosquitto and influxd on free loopback ports, W `peakline-ingest`
worker processes (W > 1: one MQTT 5 shared subscription, `$share/ingest/...`, splits the
stream among them, as in production scale-out), and P publisher processes sending QoS 1
telemetry batches (built before the clock starts, stamped `sent` as they are published).
Reports sustained readings/s from the first publish to the last reading stored (followed on
the workers' readings counters every 20 ms, confirmed by a count query: zero loss),
the raw line-protocol write rate of the same influxd in the same run (the ceiling: bodies
pre-encoded, 4 writes in flight), their ratio, and p50/p99 lag from the agent's `sent` stamp
to stored (from the first worker's histogram). Last line: a JSON object.

    python bench/ingest_e2e.py [readings] [publishers] [readings_per_message] [workers] [guard]

`guard` is `on` (default, as deployed) or `off` (`--no-restart-guard`: each worker's restart
guard session, which receives the telemetry stream a second time, is not opened).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import re
import subprocess
import sys
import tempfile
import time
from multiprocessing.synchronize import Barrier
from pathlib import Path

import httpx
import msgspec
import numpy as np
import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from peakline_cli.servers import Influxd, Mosquitto, free_port, wait_until
from peakline_core.storage import RowBlock, encode_block
from peakline_core.wire import Reading, TelemetryBatch, Topics, encode

T0 = 1_700_000_000_000_000_000
BIN = Path(sys.executable).parent / "peakline-ingest"


def publisher(
    url: str, prefix: str, worker: int, messages: int, per_message: int, go: Barrier
) -> None:
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(host, int(port))
    client.loop_start()
    topics = Topics(prefix)
    device = f"d{worker}"
    topic = topics.telemetry("s1", device)
    batches = []  # built before the clock starts; `sent` is stamped at publish time
    for seq in range(messages):
        ts = T0 + seq * 1_000_000_000
        readings = [Reading(f"p{i}", ts, float(seq) + i * 0.001) for i in range(per_message)]
        batches.append(TelemetryBatch(f"a{worker}", "s1", device, seq, 0, readings))
    go.wait()
    infos = [
        client.publish(topic, encode(msgspec.structs.replace(b, sent=time.time_ns())), qos=1)
        for b in batches
    ]
    for info in infos:
        info.wait_for_publish(timeout=600)
    client.loop_stop()
    client.disconnect()


def count(http: httpx.Client, url: str, db: str) -> int:
    r = http.post(
        f"{url}/query", params={"db": db}, data={"q": 'SELECT count("value") FROM reading'}
    )
    series = r.json()["results"][0].get("series")
    return int(series[0]["values"][0][1]) if series else 0


def stored_by_workers(http: httpx.Client, ports: list[int]) -> int:
    """Readings the workers have had acknowledged by influxd (their readings counter)."""
    total = 0.0
    for port in ports:
        text = http.get(f"http://127.0.0.1:{port}/metrics").text
        found = re.search(r"^peakline_ingest_readings_total ([0-9.e+]+)$", text, re.M)
        total += float(found.group(1)) if found else 0.0
    return int(total)


def wait_stored(http: httpx.Client, influxd_url: str, ports: list[int], readings: int) -> None:
    """Until every reading is in influxd. Progress comes from the workers' counters, every
    20 ms (cheap: no query load on influxd while it is being measured); the count query
    confirms it, and is what ends the wait if the counters ever ran ahead (a re-delivery
    stored twice)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if (
            stored_by_workers(http, ports) >= readings
            and count(http, influxd_url, "bench") >= readings
        ):
            return
        time.sleep(0.02)
    raise TimeoutError("not all readings stored after 600 s")


async def ceiling(url: str, db: str, readings: int, per_body: int = 10_000) -> float:
    """Raw /write rate of pre-encoded line protocol, 4 requests in flight (readings/s)."""
    series = [{"site": "s1", "device": f"d{i % 8}", "point": f"p{i}"} for i in range(200)]
    bodies = []
    for start in range(0, readings, per_body):
        n = min(per_body, readings - start)
        idx = np.arange(start, start + n)
        bodies.append(
            encode_block(
                RowBlock(
                    "reading", series, (idx % 200).astype(np.intp),
                    {"value": idx * 0.001, "quality": np.zeros(n, dtype=np.int64)},
                    (T0 + (idx // 200) * 1_000_000_000).astype(np.int64),
                )
            )
        )  # fmt: skip
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                r = await client.post("/write", params={"db": db, "precision": "ns"}, content=body)
                r.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(4)))
        return readings / (time.perf_counter() - start)


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes."""
    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)


def quantiles(metrics_text: str, name: str) -> tuple[float, float]:
    buckets = [
        (float(m.group(1)), float(m.group(2)))
        for m in re.finditer(rf'^{name}_bucket{{le="([^"]+)"}} ([0-9.e+]+)$', metrics_text, re.M)
        if m.group(1) != "+Inf"
    ]
    total = float(re.search(rf"^{name}_count ([0-9.e+]+)$", metrics_text, re.M).group(1))  # type: ignore[union-attr]

    def q(p: float) -> float:
        for le, c in buckets:
            if c >= p * total:
                return le
        return float("inf")

    return q(0.5), q(0.99)


def main() -> None:
    readings = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    pubs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    per_message = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    guard = (sys.argv[5] if len(sys.argv) > 5 else "on") == "on"
    messages = readings // (pubs * per_message)
    readings = messages * pubs * per_message
    work = Path(tempfile.mkdtemp(prefix="peakline-bench-"))
    with Mosquitto.create(work / "mq") as broker, Influxd.create(work / "influx") as influxd:
        influxd.query('CREATE DATABASE "bench"')
        influxd.query('CREATE DATABASE "ceiling"')
        assert influxd.proc is not None and broker.proc is not None
        db_pid, mq_pid = influxd.proc.pid, broker.proc.pid
        before = cpu_s([db_pid])
        raw = asyncio.run(ceiling(influxd.url, "ceiling", readings))
        ceiling_db_cpu = cpu_s([db_pid]) - before
        healths = [free_port() for _ in range(workers)]
        ingests = [
            subprocess.Popen(
                [
                    str(BIN), "run", "--broker", broker.url, "--store", f"{influxd.url}?db=bench",
                    "--topic-prefix", "bench", "--client-id", f"bench-w{w}",
                    "--state-dir", str(work / f"st{w}"), "--health-port", str(healths[w]),
                    "--max-past-s", str(10 * 365 * 86400), "--max-future-s", str(10 * 365 * 86400),
                    "--batch-readings", "10000", "--writes-in-flight", "4",
                    "--max-in-flight", "2000", "--no-anomaly", "--no-energy",
                    "--restart-guard" if guard else "--no-restart-guard",
                ],
                stdout=subprocess.DEVNULL, stderr=open(work / f"ingest{w}.log", "wb"),  # noqa: SIM115
            )
            for w in range(workers)
        ]  # fmt: skip
        health = healths[0]
        try:
            for port in healths:
                wait_until(lambda port=port: _ready(port), 60, "ingest ready")  # type: ignore[misc]
            go = multiprocessing.Barrier(pubs + 1)
            procs = [
                multiprocessing.Process(
                    target=publisher, args=(broker.url, "bench", w, messages, per_message, go)
                )
                for w in range(pubs)
            ]
            for p in procs:
                p.start()
            with httpx.Client(timeout=30) as http:
                pids = [i.pid for i in ingests]
                cpu = [cpu_s(pids), cpu_s([db_pid]), cpu_s([mq_pid])]
                go.wait(timeout=120)  # publishers connected, batches built: the clock starts
                start = time.perf_counter()
                wait_stored(http, influxd.url, healths, readings)
                elapsed = time.perf_counter() - start
                cpu = [cpu_s(pids) - cpu[0], cpu_s([db_pid]) - cpu[1], cpu_s([mq_pid]) - cpu[2]]
                for p in procs:
                    p.join()
                text = http.get(f"http://127.0.0.1:{health}/metrics").text
                stored = count(http, influxd.url, "bench")
            p50, p99 = quantiles(text, "peakline_ingest_lag_seconds")
        finally:
            for ingest in ingests:
                ingest.terminate()
            for ingest in ingests:
                ingest.wait(60)
    e2e = readings / elapsed
    result = {
        "readings": readings,
        "stored": stored,
        "lost": readings - stored,
        "publishers": pubs,
        "ingest_workers": workers,
        "restart_guard": guard,
        "readings_per_message": per_message,
        "e2e_readings_per_s": round(e2e),
        "influxd_raw_write_readings_per_s": round(raw),
        "ratio": round(e2e / raw, 3),
        "lag_p50_s_upper_bound": p50,
        "lag_p99_s_upper_bound": p99,
        # CPU time per reading (us), a figure the machine's other load barely moves:
        "cpu_us_per_reading_workers": round(cpu[0] / readings * 1e6, 2),
        "cpu_us_per_reading_influxd": round(cpu[1] / readings * 1e6, 2),
        "cpu_us_per_reading_mosquitto": round(cpu[2] / readings * 1e6, 2),
        "cpu_us_per_reading_influxd_ceiling": round(ceiling_db_cpu / readings * 1e6, 2),
    }
    for k, v in result.items():
        print(f"{k:36s} {v}")
    print(json.dumps(result))


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
