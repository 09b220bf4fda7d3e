"""Edge polling benchmark: one agent process polls 200 simulated Modbus TCP devices (~50 points
each) every second and publishes to a real mosquitto.

Figures: the agent process's CPU share of one core and RSS (psutil), Modbus requests per cycle
against the naive one-request-per-point count (the baseline, from the same profile), and the
end-to-end latency from a reading's request timestamp to its receipt by a subscriber.
Targets: < 30 % of one core, < 80 MB RSS. Last line: one JSON object.

    uv run --frozen python bench/edge_poll.py [--devices 200] [--seconds 30]

The devices are served by a separate process (20 gateways x 10 unit ids, like meters behind
Modbus TCP gateways), so their CPU is not charged to the agent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiomqtt
import psutil

from peakline_core.config.profiles import ModbusProfile
from peakline_core.registers import encode_value, naive_request_count, plan_reads
from peakline_core.wire import decode_telemetry
from peakline_testing import configs
from peakline_testing.servers import Mosquitto

REPO = Path(__file__).resolve().parent.parent
UNITS_PER_GATEWAY = 10


def profile() -> dict[str, Any]:
    """A three-phase meter: 30 float32 values, 10 scaled int16s, 4 status bits, and 6 energy
    counters read every 60 s (50 points)."""
    points: list[dict[str, Any]] = []
    for i in range(30):
        points.append(
            {"name": f"f{i}", "unit": "W", "table": "holding", "address": 2 * i, "dtype": "float32"}
        )
    for i in range(10):
        points.append(
            {
                "name": f"s{i}",
                "unit": "V",
                "table": "holding",
                "address": 100 + i,
                "dtype": "int16",
                "scale": 0.1,
            }
        )
    for i in range(4):
        points.append(
            {"name": f"b{i}", "table": "holding", "address": 120, "dtype": "bit", "bit": i}
        )
    for i in range(6):
        points.append(
            {
                "name": f"e{i}",
                "unit": "kWh",
                "table": "input",
                "address": 2 * i,
                "dtype": "uint32",
                "counter": True,
                "interval_s": 60,
            }
        )
    return {"protocol": "modbus", "name": "bench-meter", "kind": "meter", "points": points}


def serve_simulator(gateways: int) -> None:
    """Child mode: serve `gateways` x 10 units, print the ports as JSON, run until killed."""
    from peakline_testing.modbus_peer import Unit, modbus_peer  # the edge tests' Modbus TCP peer

    meter = ModbusProfile.model_validate(profile())

    def unit(seed: int) -> Unit:
        u = Unit()
        for k, p in enumerate(meter.points):
            value: float | bool = (
                (seed * 7 + k) % 97 + 0.5 if p.dtype.value != "bit" else k % 2 == 0
            )
            for j, w in enumerate(encode_value(p, value)):
                table = getattr(u, p.table.value)
                table[p.address + j] = table.get(p.address + j, 0) | w
        for a in range(60, 125):
            u.holding.setdefault(a, 0)
        return u

    async def main() -> None:
        from contextlib import AsyncExitStack

        async with AsyncExitStack() as stack:
            ports = []
            for g in range(gateways):
                units = {i + 1: unit(g * UNITS_PER_GATEWAY + i) for i in range(UNITS_PER_GATEWAY)}
                peer = await stack.enter_async_context(modbus_peer(units))
                ports.append(peer.port)
            print(json.dumps(ports), flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())


def write_config(root: Path, broker: str, ports: list[int], devices: int) -> None:
    (root / "profiles").mkdir(parents=True)
    devs = [
        {
            "id": f"m{i:03d}",
            "site": "s1",
            "agent": "gw1",
            "profile": "bench-meter",
            "poll_interval_s": 1.0,
            "connection": {
                "driver": "modbus-tcp",
                "host": "127.0.0.1",
                "port": ports[i // UNITS_PER_GATEWAY],
                "unit_id": i % UNITS_PER_GATEWAY + 1,
                "timeout_s": 1.0,
            },
        }
        for i in range(devices)
    ]
    configs.write_config_dir(
        root,
        sites=[configs.site()],
        agents=[configs.agent(broker, "bench", batch_max_delay_s=None)],
        devices=devs,
        files={"profiles/bench-meter.yaml": profile()},
    )


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("peakline_edge_") and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            metric = name.split("{", 1)[0]
            out[metric] = out.get(metric, 0.0) + float(value)
    return out


async def collect(host: str, port: int, latencies: list[float], stop: asyncio.Event) -> None:
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe("bench/v1/tele/#", qos=1)
        async for message in client.messages:
            now = time.time_ns()
            assert isinstance(message.payload, bytes)
            batch = decode_telemetry(message.payload)
            if stop.is_set():
                return
            latencies.append((now - min(r.ts for r in batch.readings)) / 1e6)


async def measure(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    from peakline_testing.servers import free_port

    gateways = -(-args.devices // UNITS_PER_GATEWAY)
    sim = subprocess.Popen(  # noqa: ASYNC220 - started once, before the loop does work
        [sys.executable, __file__, "--serve-sim", str(gateways)], stdout=subprocess.PIPE
    )
    assert sim.stdout is not None
    ports = json.loads(sim.stdout.readline())
    with Mosquitto.create() as broker:
        config = workdir / "cfg"
        write_config(config, broker.url, ports, args.devices)
        metrics_port = free_port()
        log = open(workdir / "agent.log", "wb")  # noqa: SIM115, ASYNC230 - the agent's log
        agent = subprocess.Popen(  # noqa: ASYNC220
            [
                str(Path(sys.executable).parent / "peakline-edge"),
                "run",
                "--config",
                str(config),
                "--agent",
                "gw1",
                "--state-dir",
                str(workdir / "state"),
                "--metrics-port",
                str(metrics_port),
                "--log-level",
                "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        latencies: list[float] = []
        stop = asyncio.Event()
        collector = asyncio.create_task(collect(broker.host, broker.port, latencies, stop))
        try:
            await asyncio.sleep(args.warmup)  # let connections and plans settle
            proc = psutil.Process(agent.pid)
            latencies.clear()
            before, cpu0, t0 = scrape(metrics_port), proc.cpu_times(), time.monotonic()
            rss_peak = 0
            while time.monotonic() - t0 < args.seconds:
                await asyncio.sleep(0.5)  # sampling period for RSS
                rss_peak = max(rss_peak, proc.memory_info().rss)
            after, cpu1, t1 = scrape(metrics_port), proc.cpu_times(), time.monotonic()
            stop.set()
        finally:
            sim.kill()
            sim.wait()
            collector.cancel()
            agent.terminate()
            try:
                stopped = agent.wait(60)
            except subprocess.TimeoutExpired:
                agent.kill()
                stopped = None
            print(f"agent exit status {stopped}; log tail:", file=sys.stderr)
            print((workdir / "agent.log").read_text()[-2000:], file=sys.stderr)
    cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / (t1 - t0)
    cycles = after["peakline_edge_cycles_total"] - before["peakline_edge_cycles_total"]
    requests = after["peakline_edge_requests_total"] - before["peakline_edge_requests_total"]
    readings = after["peakline_edge_readings_total"] - before["peakline_edge_readings_total"]
    meter = ModbusProfile.model_validate(profile())
    fast = [p for p in meter.points if p.interval_s is None]
    lat = sorted(latencies)
    return {
        "devices": args.devices,
        "points_per_device": len(meter.points),
        "seconds": round(t1 - t0, 1),
        "cpu_share_of_one_core": round(cpu, 3),
        "rss_mb": round(rss_peak / 2**20, 1),
        "cycles_per_s": round(cycles / (t1 - t0), 1),
        "readings_per_s": round(readings / (t1 - t0), 1),
        "requests_per_cycle": round(requests / cycles, 2) if cycles else None,
        "planned_requests_fast_cycle": len(plan_reads(fast)),
        "baseline_naive_requests_per_cycle": naive_request_count(fast),
        "latency_ms_p50": round(statistics.median(lat), 1) if lat else None,
        "latency_ms_p95": round(lat[int(0.95 * (len(lat) - 1))], 1) if lat else None,
        "batches_received": len(lat),
        "targets": {"cpu_share_of_one_core": 0.30, "rss_mb": 80},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--serve-sim", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sim:
        serve_simulator(args.serve_sim)
        return
    with tempfile.TemporaryDirectory(prefix="peakline-bench-edge-") as tmp:
        result = asyncio.run(measure(args, Path(tmp)))
    for key, value in result.items():
        if key != "targets":
            print(f"{key:>36}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
