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
        [mode] [repeats]

`guard` is `on` (default, as deployed) or `off` (`--no-restart-guard`: each worker's restart
guard session, which receives the telemetry stream a second time, is not opened).

`mode` is `all` (default), `both`, `deployed`, `off` or `bare`:
  - `deployed`, the headline: the workers run as `peakline-ingest run` does by default with a
    config: `--config` (a copy of config/ plus one SDM630 meter per publisher at a bench site:
    every reading is checked against the registry), the first worker runs the deriver with
    every part on (energy walks of the meters' import counters, roll-ups, emissions, anomaly
    scores of every series), the others `--no-derive`. Publishers send whole meter scans
    (every SDM630 point per timestamp, timestamps just behind the clock, import counter rising
    36 kW), so the deriver derives them as they arrive. The run ends when every reading is
    stored; the deriver's lag at that moment is printed with it.
  - `off`: the same bench with the processors off: the same config, publishers and readings
    as `deployed`, every worker `--no-derive` (no energy, roll-ups, emissions or scores).
  - `bare`: no config, no deriver (`--no-derive`): the storage path alone, on plain batches.
  - `all`: bare, then `off` and `deployed` alternately `repeats` times (default 3), in the
    same run against the same influxd ceiling; `deployed_over_off` is the median deployed
    rate over the median `off` rate (what the processors cost), `deployed_over_bare` the
    same against the storage path alone (which also differs in its data: 30-point meter
    scans with decimals and registry checks against plain batches).
  - `both`: bare, then deployed.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import re
import statistics
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
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from peakline_core.storage import RowBlock, encode_block
from peakline_core.wire import Reading, TelemetryBatch, Topics, encode
from peakline_testing.configs import copy_example
from peakline_testing.servers import Influxd, Mosquitto, free_port
from peakline_testing.waiting import wait_until

T0 = 1_700_000_000_000_000_000
BIN = Path(sys.executable).parent / "peakline-ingest"
REPO = Path(__file__).resolve().parent.parent
METER_POINTS = [
    p["name"] for p in yaml.safe_load((REPO / "config/profiles/sdm630.yaml").read_text())["points"]
]


def bench_config(root: Path, pubs: int) -> Path:
    """config/ plus a bench site with one SDM630 meter per publisher (its main meter first)."""
    copy_example(root)
    sites = yaml.safe_load((root / "sites.yaml").read_text())
    sites["sites"].append({
        "id": "bench", "name": "Bench building", "city": "riverton",
        "district": "riverton-old-town", "floor_area_m2": 20000, "occupants": 500,
        "grid_region": "CN-EAST", "timezone": "Asia/Shanghai", "meter": "bench-m0",
    })  # fmt: skip
    (root / "sites.yaml").write_text(yaml.safe_dump(sites, sort_keys=False))
    agents = yaml.safe_load((root / "agents.yaml").read_text())
    for w in range(pubs):  # one gateway per publisher: each has its own sequence numbers
        agents["agents"].append({"id": f"bench-gw{w}", "site": "bench",
                                 "uplink": {"broker": "mqtt://127.0.0.1:1"}})  # fmt: skip
    (root / "agents.yaml").write_text(yaml.safe_dump(agents, sort_keys=False))
    devices = yaml.safe_load((root / "devices.yaml").read_text())
    for w in range(pubs):
        devices["devices"].append({
            "id": f"bench-m{w}", "site": "bench", "agent": f"bench-gw{w}", "profile": "sdm630",
            "poll_interval_s": 1, "read_only": True,
            "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": 40000 + w,
                           "unit_id": 1},
        })  # fmt: skip
    (root / "devices.yaml").write_text(yaml.safe_dump(devices, sort_keys=False))
    return root


def meter_batches(worker: int, messages: int, per_message: int, t0: int) -> list[TelemetryBatch]:
    """Whole SDM630 scans, one per second: power ~36 kW with noise, the import counter rising
    with it, the other points plausible constants with noise."""
    rng = np.random.default_rng(worker)
    scans = max(1, per_message // len(METER_POINTS))
    out, kwh, k = [], 1000.0 + worker, 0
    for seq in range(messages):
        readings = []
        for _ in range(scans):
            ts = t0 + k * 1_000_000_000
            power = 36_000 + rng.normal(0, 500)
            kwh += power / 1000 / 3600
            for i, name in enumerate(METER_POINTS):
                value = {"power_total": power, "import_energy": kwh}.get(
                    name, 100 + i + rng.normal(0, 0.5)
                )
                readings.append(Reading(name, ts, float(value)))
            k += 1
        out.append(
            TelemetryBatch(f"bench-gw{worker}", "bench", f"bench-m{worker}", seq, 0, readings)
        )
    return out


def publisher(
    url: str,
    prefix: str,
    worker: int,
    messages: int,
    per_message: int,
    go: Barrier,
    meter_t0: int | None = None,
) -> None:
    host, port = url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(host, int(port))
    client.loop_start()
    topics = Topics(prefix)
    batches = []  # built before the clock starts; `sent` is stamped at publish time
    if meter_t0 is not None:
        topic = topics.telemetry("bench", f"bench-m{worker}")
        batches = meter_batches(worker, messages, per_message, meter_t0)
    else:
        topic = topics.telemetry("s1", f"d{worker}")
    for seq in range(messages if meter_t0 is None else 0):
        ts = T0 + seq * 1_000_000_000
        readings = [Reading(f"p{i}", ts, float(seq) + i * 0.001) for i in range(per_message)]
        batches.append(TelemetryBatch(f"a{worker}", "s1", f"d{worker}", seq, 0, readings))
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


def wait_stored(
    http: httpx.Client, influxd_url: str, ports: list[int], readings: int, db: str
) -> None:
    """Until every reading is in influxd. Progress comes from the workers' counters, every
    20 ms (cheap: no query load on influxd while it is being measured); the count query
    confirms it, and is what ends the wait if the counters ever ran ahead (a re-delivery
    stored twice)."""
    deadline = time.monotonic() + float(os.environ.get("BENCH_WAIT_S", "600"))
    while time.monotonic() < deadline:
        if stored_by_workers(http, ports) >= readings and count(http, influxd_url, db) >= readings:
            return
        time.sleep(0.02)
    rejects = "".join(
        line + "\n"
        for port in ports
        for line in http.get(f"http://127.0.0.1:{port}/metrics").text.splitlines()
        if line.startswith("peakline_ingest_rejects_total{")
    )
    raise TimeoutError(
        f"not all readings stored in time: {stored_by_workers(http, ports)} of {readings};"
        f" rejected:\n{rejects}"
    )


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


def run_mode(
    mode: str,
    run: int,
    broker: Mosquitto,
    influxd: Influxd,
    work: Path,
    readings: int,
    pubs: int,
    per_message: int,
    workers: int,
    guard: bool,
) -> dict[str, object]:
    """Measured run `run` of `mode` (`bare`, `off` or `deployed`) into its own database;
    see the docstring."""
    deployed = mode in ("deployed", "off")  # (`off`: the deployed bench, processors off)
    name = f"{mode}{run}"
    db = f"bench_{name}"
    influxd.query(f'CREATE DATABASE "{db}"')
    assert influxd.proc is not None and broker.proc is not None
    db_pid, mq_pid = influxd.proc.pid, broker.proc.pid
    if deployed:
        per_scan = len(METER_POINTS)
        per_message = max(1, per_message // per_scan) * per_scan
    messages = readings // (pubs * per_message)
    readings = messages * pubs * per_message
    seconds = messages * (per_message // len(METER_POINTS) if deployed else 1)
    meter_t0 = (time.time_ns() // 1_000_000_000 - seconds - 5) * 1_000_000_000
    healths = [free_port() for _ in range(workers)]
    config = bench_config(work / f"config-{name}", pubs) if deployed else None
    ingests = []
    for w in range(workers):
        cmd = [
            str(BIN), "run", "--broker", broker.url, "--store", f"{influxd.url}?db={db}",
            "--topic-prefix", f"bench-{name}", "--client-id", f"bench-{name}-w{w}",
            "--state-dir", str(work / f"st-{name}-{w}"), "--health-port", str(healths[w]),
            "--batch-readings", "10000", "--writes-in-flight", "4", "--max-in-flight", "2000",
            "--restart-guard" if guard else "--no-restart-guard",
        ]  # fmt: skip
        if deployed:
            derives = mode == "deployed" and w == 0
            cmd += ["--config", str(config)] + ([] if derives else ["--no-derive"])
        else:
            cmd += ["--no-derive", "--max-past-s", str(10 * 365 * 86400),
                    "--max-future-s", str(10 * 365 * 86400)]  # fmt: skip
        log = open(work / f"ingest-{name}-{w}.log", "wb")  # noqa: SIM115
        ingests.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log))
    health = healths[0]
    try:
        for port in healths:
            wait_until(lambda port=port: _ready(port), 60, "ingest ready")  # type: ignore[misc]
        go = multiprocessing.Barrier(pubs + 1)
        procs = [
            multiprocessing.Process(
                target=publisher,
                args=(
                    broker.url,
                    f"bench-{name}",  # per run: a finished run's session stays in the group
                    w,
                    messages,
                    per_message,
                    go,
                    meter_t0 if deployed else None,
                ),
            )
            for w in range(pubs)
        ]
        for p in procs:
            p.start()
        with httpx.Client(timeout=30) as http:
            pids = [i.pid for i in ingests]
            cpu = [cpu_s(pids), cpu_s([db_pid]), cpu_s([mq_pid])]
            go.wait(timeout=300)  # publishers connected, batches built: the clock starts
            start = time.perf_counter()
            wait_stored(http, influxd.url, healths, readings, db)
            elapsed = time.perf_counter() - start
            cpu = [cpu_s(pids) - cpu[0], cpu_s([db_pid]) - cpu[1], cpu_s([mq_pid]) - cpu[2]]
            for p in procs:
                p.join()
            text = http.get(f"http://127.0.0.1:{health}/metrics").text
            stored = count(http, influxd.url, db)
        p50, p99 = quantiles(text, "peakline_ingest_lag_seconds")
        lag = re.search(r"^peakline_ingest_derive_lag_seconds ([0-9.e+-]+)$", text, re.M)
    finally:
        for ingest in ingests:
            ingest.terminate()
        for ingest in ingests:
            ingest.wait(60)
    return {
        "mode": mode,
        "readings": readings,
        "stored": stored,
        "lost": readings - stored,
        "e2e_readings_per_s": round(readings / elapsed),
        "lag_p50_s_upper_bound": p50,
        "lag_p99_s_upper_bound": p99,
        "deriver_lag_s_at_end": float(lag.group(1)) if lag else None,
        # CPU time per reading (us), a figure the machine's other load barely moves:
        "cpu_us_per_reading_workers": round(cpu[0] / readings * 1e6, 2),
        "cpu_us_per_reading_influxd": round(cpu[1] / readings * 1e6, 2),
        "cpu_us_per_reading_mosquitto": round(cpu[2] / readings * 1e6, 2),
    }


def main() -> None:
    readings = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    pubs = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    per_message = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    guard = (sys.argv[5] if len(sys.argv) > 5 else "on") == "on"
    mode = sys.argv[6] if len(sys.argv) > 6 else "all"
    repeats = int(sys.argv[7]) if len(sys.argv) > 7 else 3
    modes = {"all": ["bare", *(["off", "deployed"] * repeats)], "both": ["bare", "deployed"]}
    plan = modes.get(mode, [mode])
    work = Path(tempfile.mkdtemp(prefix="peakline-bench-"))
    with Mosquitto.create(work / "mq") as broker, Influxd.create(work / "influx") as influxd:
        influxd.query('CREATE DATABASE "ceiling"')
        assert influxd.proc is not None
        before = cpu_s([influxd.proc.pid])
        raw = asyncio.run(ceiling(influxd.url, "ceiling", readings))
        ceiling_db_cpu = cpu_s([influxd.proc.pid]) - before
        runs = [
            run_mode(m, i, broker, influxd, work, readings, pubs, per_message, workers, guard)
            for i, m in enumerate(plan)
        ]
    result: dict[str, object] = {
        "publishers": pubs,
        "ingest_workers": workers,
        "restart_guard": guard,
        "readings_per_message": per_message,
        "influxd_raw_write_readings_per_s": round(raw),
        "cpu_us_per_reading_influxd_ceiling": round(ceiling_db_cpu / readings * 1e6, 2),
    }
    rates: dict[str, list[int]] = {}
    for m in dict.fromkeys(plan):  # each mode: its median run, and every run's rate
        mine = [r for r in runs if r["mode"] == m]
        rates[m] = [int(r["e2e_readings_per_s"]) for r in mine]  # type: ignore[call-overload]
        mine.sort(key=lambda r: int(r["e2e_readings_per_s"]))  # type: ignore[call-overload]
        median = {k: v for k, v in mine[(len(mine) - 1) // 2].items() if k != "mode"}
        ratio = round(int(median["e2e_readings_per_s"]) / raw, 3)  # type: ignore[call-overload]
        result[m] = {**median, "ratio": ratio, "runs_readings_per_s": rates[m]}
    for a, b in (("deployed", "off"), ("deployed", "bare")):
        if a in rates and b in rates:
            result[f"{a}_over_{b}"] = round(
                statistics.median(rates[a]) / statistics.median(rates[b]), 3
            )
    for k, v in result.items():
        if isinstance(v, dict):
            print(f"-- {k}")
            for k2, v2 in v.items():
                print(f"   {k2:36s} {v2}")
        else:
            print(f"{k:39s} {v}")
    print(json.dumps(result))


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    main()
