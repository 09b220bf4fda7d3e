"""API load benchmark: latest readings and 1-day range queries under concurrent load.

The API runs as its own process (`peakline-api run`, uvicorn, one worker) over a store seeded
with one day of 1-minute readings for the example district plus three extra meters; this
process drives it over loopback HTTP with an open-loop schedule (latency is measured from each
request's scheduled start, so a stalled server cannot hide its queue).

Figures: p50/p99 latency and achieved requests/s for
  - latest readings of one device (`/api/v1/readings/latest?device=...`) at --rate req/s;
  - a 1-day 1-minute aggregate over 100 series (`/api/v1/series?...&start=-1d&window=1m`);
  - baseline, same run: `/health` at the same rate (framework + HTTP cost, no store), and the
    store's own `latest()` / `query()` called directly in-process (no HTTP, no API).
Targets: latest p99 < 50 ms at 200 req/s; the 100-series day query < 300 ms.

CPU (for sizing, docs/deployment.md): the API process's CPU time per request of each phase
(psutil, user + system), and, when it follows a broker, per reading of its live feed: every
replica decodes all telemetry into its latest-value table, so that cost is paid once per
replica, not shared (--feed-readings readings of the bench's four meters,
published at once (a meter's points a message, 29 for an SDM630); the feed is done when the API's latest answer has the last one).

    uv run --frozen python bench/api_load.py [--store sqlite|influx] [--seconds 10] [--rate 200]
        [--no-broker] [--latest-cache-s 0]

As deployed, the API follows a broker (a mosquitto the bench starts) and answers latest values
from its in-memory table; `--no-broker` reads them from the store per request (the cache is
off by default, `--latest-cache-s 1` turns it on).

Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psutil
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from peakline_api.demo_data import reading_rows
from peakline_api.keys import KeyStore, Role
from peakline_api.registry import Registry
from peakline_core.config import load_config
from peakline_core.storage import Aggregate, SeriesQuery
from peakline_core.wire import Reading, TelemetryBatch, Topics, encode
from peakline_store import InfluxStore
from peakline_store.influxql import range_query
from peakline_store.open import open_store
from peakline_testing.configs import copy_example
from peakline_testing.servers import Influxd, Mosquitto, free_port
from peakline_testing.waiting import eventually, wait_until

REPO = Path(__file__).resolve().parent.parent
EXTRA_METERS = ("bench-meter-1", "bench-meter-2", "bench-meter-3")
METERS = ("school-meter", *EXTRA_METERS)
POINTS_PER_METER = 25  # 4 meters x 25 points = 100 series


def bench_config(root: Path) -> Path:
    copy_example(root)
    devices = yaml.safe_load((root / "devices.yaml").read_text())
    for i, name in enumerate(EXTRA_METERS):
        devices["devices"].append({
            "id": name, "site": "rt-school", "agent": "gw-oldtown", "profile": "sdm630",
            "poll_interval_s": 60,
            "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": 25000 + i},
        })  # fmt: skip
    (root / "devices.yaml").write_text(yaml.safe_dump(devices, sort_keys=False))
    return root


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def summary(latencies_s: list[float], wall_s: float, errors: int) -> dict[str, Any]:
    ms = [x * 1000 for x in latencies_s]
    return {
        "requests": len(ms),
        "errors": errors,
        "p50_ms": round(pct(ms, 0.50), 2),
        "p99_ms": round(pct(ms, 0.99), 2),
        "max_ms": round(max(ms), 2) if ms else None,
        "rps": round(len(ms) / wall_s, 1),
    }


async def open_loop(
    client: httpx.AsyncClient,
    url: str,
    rate: float,
    seconds: float,
    headers: dict[str, str],
    devices: list[str] | None = None,
) -> dict[str, Any]:
    """Send `rate` req/s for `seconds`, each at its scheduled time; latency from schedule.

    With `devices`, request i asks for devices[i % len] (`{device}` in the URL), so the load
    spreads over every device like a dashboard fleet instead of repeating one query."""
    latencies: list[float] = []
    errors = 0
    n = int(rate * seconds)
    start = time.perf_counter() + 0.05

    async def one(i: int) -> None:
        nonlocal errors
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # the schedule itself, not a synchronisation
        target = url.format(device=devices[i % len(devices)]) if devices else url
        r = await client.get(target, headers=headers)
        if r.status_code != 200:
            errors += 1
        latencies.append(time.perf_counter() - due)

    await asyncio.gather(*(one(i) for i in range(n)))
    return summary(latencies, time.perf_counter() - start, errors)


def cpu_s(pid: int) -> float:
    """User + system CPU time of a process so far (s)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def per_request(result: dict[str, Any], cpu: float) -> dict[str, Any]:
    return {**result, "api_cpu_ms_per_request": round(cpu * 1000 / max(1, result["requests"]), 3)}


def feed_batches(registry: Registry, readings: int, now_ns: int) -> list[TelemetryBatch]:
    """Meter scans of the bench's four meters (up to 30 points a message), one scan a second per
    meter, ending now: what ingest would store, so the API's live table takes every one."""
    devices = [registry.devices[d] for d in METERS]
    out: list[TelemetryBatch] = []
    n_scans = readings // (30 * len(devices)) + 1
    for k in range(n_scans):
        ts = now_ns - (n_scans - k) * 10**9
        for d in devices:
            points = list(registry.points[d.id])[:30]
            out.append(TelemetryBatch(d.agent, d.site, d.id, len(out), ts,
                                      [Reading(p, ts, float(k)) for p in points]))  # fmt: skip
    return out


def publish_all(broker_url: str, items: list[tuple[str, bytes]]) -> None:
    host, port = broker_url.removeprefix("mqtt://").split(":")
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(host, int(port))
    client.loop_start()
    try:
        for info in [client.publish(topic, payload, qos=1) for topic, payload in items]:
            info.wait_for_publish(timeout=120)
    finally:
        client.loop_stop()
        client.disconnect()


async def sequential(
    client: httpx.AsyncClient, url: str, count: int, headers: dict[str, str]
) -> dict[str, Any]:
    latencies = []
    errors = 0
    t0 = time.perf_counter()
    for _ in range(count):
        s = time.perf_counter()
        r = await client.get(url, headers=headers)
        errors += r.status_code != 200
        latencies.append(time.perf_counter() - s)
    return summary(latencies, time.perf_counter() - t0, errors)


async def direct_store(store_url: str, config_dir: Path, now_ns: int, points: list[str]) -> dict:
    """Baseline: the store's own cost for the same two reads, no HTTP, no API."""
    store = open_store(store_url)
    try:
        lat: list[float] = []
        for _ in range(50):
            s = time.perf_counter()
            await store.latest(
                "reading", "value", {"site": ["rt-school"], "device": ["school-meter"]}
            )
            lat.append(time.perf_counter() - s)
        q = SeriesQuery(
            "reading",
            "value",
            now_ns - 86400 * 10**9,
            now_ns,
            where={"site": ["rt-school"], "device": list(METERS), "point": points},
            every_ns=60 * 10**9,
            aggregate=Aggregate.MEAN,
        )
        day: list[float] = []
        for _ in range(5):
            s = time.perf_counter()
            series = await store.query(q)
            day.append(time.perf_counter() - s)
        out = {
            "latest_p50_ms": round(statistics.median(lat) * 1000, 2),
            "day_100_series_p50_ms": round(statistics.median(day) * 1000, 1),
            "day_series_returned": len(series),
        }
        if isinstance(store, InfluxStore):
            # Same run, the read paths the store no longer takes for this query: influxd's
            # GROUP BY time answered in JSON and parsed by json, and in
            # MessagePack (what the store still does for data denser than the window).
            statement = range_query(q)
            paths = {
                "day_group_by_json_p50_ms": lambda: store.influxql(statement),
                "day_group_by_msgpack_p50_ms": lambda: store.select(statement, "reading"),
            }
            for name, call in paths.items():
                took = []
                for _ in range(5):
                    s = time.perf_counter()
                    await call()
                    took.append(time.perf_counter() - s)
                out[name] = round(statistics.median(took) * 1000, 1)
        return out
    finally:
        await store.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "influx"), default="sqlite")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--latest-cache-s", type=float, default=0.0, help="0: API cache off")
    parser.add_argument(
        "--feed-readings", type=int, default=200_000, help="live feed phase; 0: off"
    )
    parser.add_argument(
        "--no-broker",
        action="store_true",
        help="run the API without a broker: latest values are read from the store per request",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="peakline-bench-api-") as tmp_:
        tmp = Path(tmp_)
        config_dir = bench_config(tmp / "config")
        registry = Registry.from_config(load_config(config_dir))
        influxd = None
        if args.store == "influx":
            influxd = Influxd.create(tmp / "influx")
            influxd.__enter__()
            influxd.query('CREATE DATABASE "bench"')
            store_url = f"{influxd.url}?db=bench"
        else:
            store_url = f"sqlite:///{tmp / 'store.db'}"
        try:
            now_ns = time.time_ns() // 60_000_000_000 * 60_000_000_000
            store = open_store(store_url)
            t0 = time.perf_counter()
            rows = list(reading_rows(registry, now_ns - 86400 * 10**9, now_ns, 60))
            for i in range(0, len(rows), 20_000):
                await store.write(rows[i : i + 20_000])
            await store.aclose()
            seed_s = time.perf_counter() - t0
            seeded = len(rows)
            print(f"seeded {seeded} readings in {seed_s:.1f}s ({args.store})", file=sys.stderr)
            # The seed's rows (millions of objects) would make this process's own garbage
            # collections pause its event loop for ~300 ms, counted as the API's latency.
            del rows
            gc.collect()
            gc.freeze()

            with KeyStore(tmp / "keys.db") as keys:
                token = keys.create("bench", Role.VIEWER, ["*"])[1]
            port = free_port()
            # As deployed, the API follows the broker: latest values come from its table.
            broker: list[str] = []
            if not args.no_broker:
                mosquitto = Mosquitto.create(tmp / "mosquitto")
                mosquitto.__enter__()
                broker = ["--broker", mosquitto.url]
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", "from peakline_api.cli import main; main()", "run",
                "--config", str(config_dir), "--store", store_url, "--keys-db",
                str(tmp / "keys.db"), "--port", str(port),
                "--latest-cache-s", str(args.latest_cache_s), *broker,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
            try:
                base = f"http://127.0.0.1:{port}"

                def up() -> bool:
                    try:
                        return httpx.get(base + "/health", timeout=0.5).status_code == 200
                    except httpx.HTTPError:
                        return False

                wait_until(up, 60, "the API process")

                def following() -> bool:
                    ready = httpx.get(base + "/ready", timeout=0.5).json()
                    return bool(ready.get("checks", {}).get("broker") == "ok")

                if broker:
                    wait_until(following, 30, "the API to follow the broker")
                    await asyncio.sleep(1.0)  # the table's seed runs on connect
                headers = {"Authorization": f"Bearer {token}"}
                points = [p for p in registry.points["school-meter"]][:POINTS_PER_METER]
                day_url = "/api/v1/series?start=-1d&window=1m&agg=mean&" + "&".join(
                    [f"device={d}" for d in METERS] + [f"point={p}" for p in points]
                )
                limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
                async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
                    check = await client.get(day_url, headers=headers)
                    n_series = len(check.json()["series"])
                    await open_loop(client, "/health", args.rate, 1, headers)  # warm up
                    c0 = cpu_s(proc.pid)
                    health = await open_loop(client, "/health", args.rate, args.seconds, headers)
                    health = per_request(health, cpu_s(proc.pid) - c0)
                    latest_url = "/api/v1/readings/latest?device=school-meter"
                    await open_loop(client, latest_url, args.rate, 1, headers)  # warm up
                    c0 = cpu_s(proc.pid)
                    latest = await open_loop(client, latest_url, args.rate, args.seconds, headers)
                    latest = per_request(latest, cpu_s(proc.pid) - c0)
                    c0 = cpu_s(proc.pid)
                    day = await sequential(client, day_url, 10, headers)
                    day = per_request(day, cpu_s(proc.pid) - c0)
                    day_concurrent = await open_loop(client, day_url, 2, 5, headers)
                    feed: dict[str, Any] | None = None
                    if broker and args.feed_readings:
                        batches = feed_batches(registry, args.feed_readings, time.time_ns())
                        items = [
                            (Topics("peakline").telemetry(b.site, b.device), encode(b))
                            for b in batches
                        ]
                        last = batches[-1]
                        marker = f"/api/v1/readings/latest?device={last.device}&point={last.readings[0].point}"

                        async def fed() -> bool:
                            items_ = (await client.get(marker, headers=headers)).json()["items"]
                            return bool(items_) and items_[0]["t_ms"] == last.sent // 1_000_000

                        c0 = cpu_s(proc.pid)
                        t0 = time.perf_counter()
                        await asyncio.to_thread(publish_all, mosquitto.url, items)
                        await eventually(fed, 600, "the live feed's last reading", every_s=0.05)
                        took = time.perf_counter() - t0
                        n = sum(len(b.readings) for b in batches)
                        cpu = cpu_s(proc.pid) - c0
                        feed = {
                            "readings": n,
                            "messages": len(batches),
                            "seconds": round(took, 2),
                            "readings_per_s": round(n / took),
                            "api_cpu_us_per_reading": round(cpu * 1e6 / n, 2),
                        }
            finally:
                proc.terminate()
                await asyncio.wait_for(proc.wait(), 30)
                if broker:
                    mosquitto.__exit__(None, None, None)
            baseline = await direct_store(store_url, config_dir, now_ns, points)
        finally:
            if influxd is not None:
                influxd.__exit__(None, None, None)

    result = {
        "bench": "api_load",
        "store": args.store,
        "rate_req_s": args.rate,
        "latest_cache_s": args.latest_cache_s,
        "latest_from": "store" if args.no_broker else "live table (API follows the broker)",
        "seconds": args.seconds,
        "seeded_readings": seeded,
        "latest_readings": latest,
        "day_1m_100_series": {**day, "series": n_series},
        "day_1m_100_series_at_2_req_s": day_concurrent,
        "baseline_health": health,
        "live_feed": feed,
        "baseline_store_direct": baseline,
        "targets": {
            "latest_p99_under_50ms_at_200rps": latest["p99_ms"] < 50
            and latest["rps"] >= 0.95 * args.rate,
            "day_query_under_300ms": day["p50_ms"] < 300,
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
