"""Edge BACnet polling benchmark: one agent process polls 50 firmware-sim BACnet air handlers
(40 analog present-values each) every 10 s through its `bacnet` driver (ReadPropertyMultiple
batches as the driver sizes them from the device's max APDU and segmentation), the spool and the
uplink to a real mosquitto. Baseline in the same run: the same agent path polling 50 Modbus TCP
devices x 40 float32 registers at 10 s (bench/edge_poll.py's method at this scale).

Figures per run: the agent process's CPU share of one core and peak RSS (psutil), readings/s,
requests per cycle, and cycle completion seen by a subscriber: every device's ticks in the
window, how many arrived as a full good batch, how many were missed, and how late each cycle
started after its wall-clock tick (late: more than 10 % of the interval). Last line: one JSON
object.

    uv run --frozen python bench/edge_bacnet.py [--devices 50] [--points 40] [--seconds 60] [--cov]

`--cov` also subscribes COV on every BACnet point (polling goes on beside it): notified values
are readings beyond the poll target.

The devices (BACnet on 127.N.24.2.., Modbus on loopback TCP ports) are served by a separate
process, so their CPU is not charged to the agent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import aiomqtt
import psutil

from peakline_core.wire import Quality, decode_telemetry
from peakline_edge.schedule import NS, stagger_offset_ns
from peakline_testing import configs
from peakline_testing.servers import Mosquitto, free_port
from peakline_testing.waiting import WaitTimeout, eventually

UNITS_PER_GATEWAY = 10
AGENT_BACNET_PORT = 47809  # bacpypes3 treats 127.x on its own port 47808 as itself
LATE_SHARE = 0.10  # a cycle starting later than this share of the interval is late
AIR_HANDLER_POINTS = 4  # supply_temp, return_temp, fan_speed, zone_setpoint; then zone sensors


def bacnet_objects(points: int) -> list[tuple[str, int, str]]:
    """(object type, instance, point name) of the first `points` objects of a firmware-sim
    air handler with `points - 4` zone sensors."""
    objects = [
        ("analog-input", 1, "supply_temp"),
        ("analog-input", 2, "return_temp"),
        ("analog-input", 3, "fan_speed"),
        ("analog-value", 1, "zone_setpoint"),
    ]
    objects += [("analog-input", 100 + n, f"zone_temp_{n}") for n in range(points)]
    return objects[:points]


def bacnet_profile(points: int) -> dict[str, Any]:
    return {
        "protocol": "bacnet",
        "name": "bench-ahu",
        "kind": "hvac",
        "points": [
            {
                "name": name,
                "object_type": kind,
                "instance": instance,
                "unit": "%" if name == "fan_speed" else "degC",
            }
            for kind, instance, name in bacnet_objects(points)
        ],
    }


def modbus_profile(points: int) -> dict[str, Any]:
    """`points` float32 holding registers (one planned request up to 62 points)."""
    return {
        "protocol": "modbus",
        "name": "bench-mb",
        "kind": "meter",
        "points": [
            {"name": f"f{i}", "unit": "W", "table": "holding", "address": 2 * i, "dtype": "float32"}
            for i in range(points)
        ],
    }


def serve_simulator(devices: int, points: int, net: int) -> None:
    """Child mode: serve `devices` BACnet air handlers and as many Modbus units, print the
    Modbus ports as JSON, run until killed."""
    from contextlib import AsyncExitStack

    from firmware_sim.bacnet import AirHandler, serve_bacnet
    from peakline_core.config.profiles import ModbusProfile
    from peakline_core.registers import encode_value
    from peakline_testing.modbus_peer import Unit, modbus_peer

    meter = ModbusProfile.model_validate(modbus_profile(points))

    def unit(seed: int) -> Unit:
        u = Unit()
        for k, p in enumerate(meter.points):
            for j, w in enumerate(encode_value(p, (seed * 7 + k) % 97 + 0.5)):
                u.holding[p.address + j] = w
        return u

    async def main() -> None:
        async with AsyncExitStack() as stack:
            for i in range(devices):
                ahu = AirHandler(
                    3000 + i, f"ahu-{i}", zone_sensors=max(0, points - AIR_HANDLER_POINTS)
                )
                await stack.enter_async_context(serve_bacnet(ahu, f"127.{net}.24.{i + 2}"))
            ports = []
            for g in range(-(-devices // UNITS_PER_GATEWAY)):
                units = {u + 1: unit(g * UNITS_PER_GATEWAY + u) for u in range(UNITS_PER_GATEWAY)}
                peer = await stack.enter_async_context(modbus_peer(units))
                ports.append(peer.port)
            print(json.dumps(ports), flush=True)
            await asyncio.Event().wait()

    asyncio.run(main())


def device_entries(
    protocol: str, devices: int, interval_s: float, net: int, ports: list[int], cov: bool = False
) -> list[dict[str, Any]]:
    entries = []
    for i in range(devices):
        connection: dict[str, Any]
        if protocol == "bacnet":
            # what `peakline bacnet discover` reports for a firmware-sim device's I-Am
            connection = {
                "driver": "bacnet",
                "address": f"127.{net}.24.{i + 2}",
                "device_instance": 3000 + i,
                "timeout_s": 2.0,
                "max_apdu": 1024,
                "segmentation": "segmented-both",
            }
            if cov:  # a SubscribeCOV per point as well, polling continuing beside it
                connection["cov_lifetime_s"] = 600
        else:
            connection = {
                "driver": "modbus-tcp",
                "host": "127.0.0.1",
                "port": ports[i // UNITS_PER_GATEWAY],
                "unit_id": i % UNITS_PER_GATEWAY + 1,
                "timeout_s": 2.0,
            }
        entries.append(
            {
                "id": f"{protocol[0]}{i:03d}",
                "site": "s1",
                "agent": "gw1",
                "profile": "bench-ahu" if protocol == "bacnet" else "bench-mb",
                "poll_interval_s": interval_s,
                "connection": connection,
            }
        )
    return entries


def write_config(
    root: Path, broker: str, devices: list[dict[str, Any]], net: int, points: int
) -> None:
    (root / "profiles").mkdir(parents=True)
    agent = configs.agent(
        broker,
        "bench",
        batch_max_delay_s=None,
        bacnet={"address": f"127.{net}.24.1/8:{AGENT_BACNET_PORT}"},
    )
    configs.write_config_dir(
        root,
        sites=[configs.site()],
        agents=[agent],
        devices=devices,
        files={
            "profiles/bench-ahu.yaml": bacnet_profile(points),
            "profiles/bench-mb.yaml": modbus_profile(points),
        },
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


class Cycles:
    """What a subscriber sees of each device's poll cycles: start time (the readings' request
    timestamp), how many points came back good, and when the batch arrived."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[int, list[int]]] = defaultdict(dict)  # device -> ts -> counts
        self.latencies_ms: list[float] = []

    async def collect(self, host: str, port: int, ready: asyncio.Event) -> None:
        async with aiomqtt.Client(host, port) as client:
            await client.subscribe("bench/v1/tele/#", qos=1)
            ready.set()
            async for message in client.messages:
                now = time.time_ns()
                assert isinstance(message.payload, bytes)
                batch = decode_telemetry(message.payload)
                for r in batch.readings:
                    good, total = self.seen[batch.device].setdefault(r.ts, [0, 0])
                    self.seen[batch.device][r.ts] = [good + (r.quality is Quality.GOOD), total + 1]
                self.latencies_ms.append((now - min(r.ts for r in batch.readings)) / 1e6)

    def last_ts(self, device: str) -> int:
        return max(self.seen[device], default=0)


def completion(
    cycles: Cycles, ids: list[str], points: int, interval_s: float, t0_ns: int, t1_ns: int
) -> dict[str, Any]:
    """Ticks of every device in [t0, t1) against the cycles that started in that window."""
    interval = int(interval_s * NS)
    expected = full = partial = late = missed = 0
    lags_ms: list[float] = []
    for dev in ids:
        offset = stagger_offset_ns(dev, interval)  # the agent's own stagger (no spread set)
        first = (t0_ns - offset - 1) // interval + 1
        ticks = {k * interval + offset for k in range(first, (t1_ns - offset - 1) // interval + 1)}
        expected += len(ticks)
        started: set[int] = set()
        for ts, (good, total) in cycles.seen[dev].items():
            if not t0_ns <= ts < t1_ns:
                continue
            tick = ts - (ts - offset) % interval  # the latest tick at or before the start
            started.add(tick)
            lags_ms.append((ts - tick) / 1e6)
            late += ts - tick > LATE_SHARE * interval
            if good == points and total == points:
                full += 1
            else:
                partial += 1
        missed += len(ticks - started)
    lags = sorted(lags_ms)
    return {
        "cycles_expected": expected,
        "cycles_full_good": full,
        "cycles_partial_or_error": partial,
        "cycles_missed": missed,
        "cycles_late": late,
        "start_lag_ms_p50": round(statistics.median(lags), 1) if lags else None,
        "start_lag_ms_p95": round(lags[int(0.95 * (len(lags) - 1))], 1) if lags else None,
        "start_lag_ms_max": round(lags[-1], 1) if lags else None,
    }


async def measure(
    args: argparse.Namespace, protocol: str, workdir: Path, net: int, ports: list[int]
) -> dict[str, Any]:
    """One agent process polling `args.devices` devices of `protocol` for `args.seconds`."""
    cov = args.cov and protocol == "bacnet"
    devices = device_entries(protocol, args.devices, args.interval, net, ports, cov)
    ids = [d["id"] for d in devices]
    workdir.mkdir(parents=True)  # noqa: ASYNC240 - before the agent starts
    with Mosquitto.create() as broker:
        config = workdir / "cfg"
        write_config(config, broker.url, devices, net, args.points)
        metrics_port = free_port()
        log = open(workdir / "agent.log", "wb")  # noqa: SIM115, ASYNC230 - the agent's log
        agent = subprocess.Popen(  # noqa: ASYNC220 - started once, before the loop does work
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
        cycles = Cycles()
        ready = asyncio.Event()
        collector = asyncio.create_task(cycles.collect(broker.host, broker.port, ready))
        try:
            await asyncio.wait_for(ready.wait(), 30)
            await eventually(
                lambda: all(cycles.seen[d] for d in ids),
                60 + args.interval,
                f"a first batch from each of the {protocol} agent's devices",
                every_s=0.2,
            )
            await asyncio.sleep(args.warmup)  # settle: connections, plans, the first spool pages
            proc = psutil.Process(agent.pid)
            before, cpu0 = scrape(metrics_port), proc.cpu_times()
            t0, t0_ns = time.monotonic(), time.time_ns()
            rss_peak = 0
            while time.monotonic() - t0 < args.seconds:
                await asyncio.sleep(0.5)  # sampling period for RSS
                rss_peak = max(rss_peak, proc.memory_info().rss)
            after, cpu1, t1, t1_ns = (
                scrape(metrics_port),
                proc.cpu_times(),
                time.monotonic(),
                time.time_ns(),
            )
            # every cycle that started in the window is delivered once a later one has started,
            # or after a deadline of one interval and the poll timeout (then it counts as missed)
            with contextlib.suppress(WaitTimeout):  # a device still missing: counted as missed
                await eventually(
                    lambda: all(cycles.last_ts(d) >= t1_ns for d in ids),
                    args.interval + 5,
                    "a cycle of every device after the window",
                    every_s=0.2,
                )
        finally:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector
            agent.terminate()
            stopped: int | None = None
            try:
                stopped = agent.wait(60)
            except subprocess.TimeoutExpired:
                agent.kill()
            log.close()
            tail = (workdir / "agent.log").read_text()[-2000:]
            print(f"{protocol} agent exit status {stopped}; log tail: {tail}", file=sys.stderr)
    wall = t1 - t0
    cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / wall
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    n_cycles = delta["peakline_edge_cycles_total"]
    lat = sorted(cycles.latencies_ms)
    return {
        "protocol": protocol,
        "cov": args.cov and protocol == "bacnet",
        "devices": args.devices,
        "points_per_device": args.points,
        "interval_s": args.interval,
        "seconds": round(wall, 1),
        "cpu_share_of_one_core": round(cpu, 4),
        "cpu_ms_per_reading": (
            round(1000 * cpu * wall / delta["peakline_edge_readings_total"], 4)
            if delta["peakline_edge_readings_total"]
            else None
        ),
        "rss_mb": round(rss_peak / 2**20, 1),
        "readings_per_s": round(delta["peakline_edge_readings_total"] / wall, 1),
        "target_readings_per_s": round(args.devices * args.points / args.interval, 1),
        "requests_per_cycle": round(delta["peakline_edge_requests_total"] / n_cycles, 2)
        if n_cycles
        else None,
        "errors": round(delta.get("peakline_edge_errors_total", 0.0)),
        **completion(cycles, ids, args.points, args.interval, t0_ns, t1_ns),
        "latency_ms_p50": round(statistics.median(lat), 1) if lat else None,
        "latency_ms_p95": round(lat[int(0.95 * (len(lat) - 1))], 1) if lat else None,
    }


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    net = random.Random().randrange(2, 250)  # apart from other BACnet users of 127.x.24.y
    sim = subprocess.Popen(  # noqa: ASYNC220 - started once, before the loop does work
        [
            sys.executable,
            __file__,
            "--serve-sim",
            f"{args.devices},{args.points},{net}",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert sim.stdout is not None
        ports = json.loads(sim.stdout.readline())  # the sim prints its ports when ready
        result: dict[str, Any] = {}
        result["bacnet"] = await measure(args, "bacnet", workdir / "bacnet", net, ports)
        if args.baseline == "modbus":
            result["modbus_baseline"] = await measure(
                args, "modbus", workdir / "modbus", net, ports
            )
    finally:
        sim.kill()
        sim.wait()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--points", type=int, default=40)
    parser.add_argument("--interval", type=float, default=10.0, help="poll interval, s")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window, s")
    parser.add_argument("--warmup", type=float, default=12.0)
    parser.add_argument("--baseline", choices=["modbus", "none"], default="modbus")
    parser.add_argument(
        "--cov", action="store_true", help="BACnet: a COV subscription per point besides polling"
    )
    parser.add_argument("--serve-sim", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sim:
        devices, points, net = (int(x) for x in args.serve_sim.split(","))
        serve_simulator(devices, points, net)
        return
    if not 1 <= args.devices <= 250 or not 1 <= args.points <= 60:
        parser.error("--devices 1..250 (one loopback address each), --points 1..60")
    with tempfile.TemporaryDirectory(prefix="peakline-bench-bacnet-") as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    for name, figures in result.items():
        print(name)
        for key, value in figures.items():
            print(f"{key:>36}: {value}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
