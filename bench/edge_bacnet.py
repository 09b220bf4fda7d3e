"""BACnet on the edge agent: one `peakline-edge run` process polls 50 firmware-sim BACnet air
handlers x 40 points every 10 s (`driver: bacnet`, one ReadPropertyMultiple per device per
cycle) through its scheduler, spool and uplink to a real mosquitto; `--cov` adds a COV
subscription per point (2,000 at 50 x 40). The devices are served by a separate process, so
their CPU is not charged to the agent. Baseline in the same run: the agent with one device.

Figures: the agent process's CPU share of one core, peak RSS (psutil), readings per second and
error readings (the agent's own metrics). Compare with bench/edge_poll.py (Modbus, same agent).
Last line: one JSON object.

    uv run --frozen python bench/edge_bacnet.py [--devices 50] [--seconds 60] [--cov]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from peakline_testing import configs
from peakline_testing.servers import Mosquitto, free_port

ZONES = 36  # 4 air-handler points + 36 zone sensors = 40 points
SERVE = """
import asyncio, sys
from contextlib import AsyncExitStack
from firmware_sim.bacnet import AirHandler, serve_bacnet
async def main(n):
    async with AsyncExitStack() as stack:
        for i in range(n):
            dev = AirHandler(2000 + i, f"ahu-{i}", zone_sensors=36)
            await stack.enter_async_context(serve_bacnet(dev, f"127.0.26.{i + 2}"))
        print("ready", flush=True)
        await asyncio.Event().wait()
asyncio.run(main(int(sys.argv[1])))
"""


def profile() -> dict[str, Any]:
    points = [
        {"name": "supply_temp", "object_type": "analog-input", "instance": 1, "unit": "degC"},
        {"name": "return_temp", "object_type": "analog-input", "instance": 2, "unit": "degC"},
        {"name": "fan_speed", "object_type": "analog-input", "instance": 3, "unit": "%"},
        {"name": "zone_setpoint", "object_type": "analog-value", "instance": 1, "unit": "degC"},
    ]
    points += [
        {
            "name": f"zone_temp_{n}",
            "object_type": "analog-input",
            "instance": 100 + n,
            "unit": "degC",
        }
        for n in range(ZONES)
    ]
    return {"protocol": "bacnet", "name": "bench-ahu", "kind": "hvac", "points": points}


def write_config(root: Path, broker: str, devices: int, interval_s: float, cov: bool) -> None:
    conn: dict[str, Any] = {"driver": "bacnet", "timeout_s": 2.0}
    if cov:
        conn["cov_lifetime_s"] = 600
    devs = [
        {
            "id": f"ahu{i:03d}", "site": "s1", "agent": "gw1", "profile": "bench-ahu",
            "poll_interval_s": interval_s,
            "connection": {**conn, "address": f"127.0.26.{i + 2}", "device_instance": 2000 + i},
        }
        for i in range(devices)
    ]  # fmt: skip
    agent = configs.agent(broker, "bench", batch_max_delay_s=None)
    agent["bacnet"] = {"address": "127.0.26.1/8:47809"}
    configs.write_config_dir(
        root,
        sites=[configs.site()],
        agents=[agent],
        devices=devs,
        files={"profiles/bench-ahu.yaml": profile()},
    )


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("peakline_edge_readings_total"):
            name, value = line.rsplit(" ", 1)
            key = "error" if 'quality="error"' in name else "all"
            out[key] = out.get(key, 0.0) + float(value)
            if key == "error":
                out["all"] = out.get("all", 0.0) + float(value)
    return out


def measure(
    broker: Mosquitto, devices: int, args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    config = work / f"cfg-{devices}"
    write_config(config, broker.url, devices, args.interval, args.cov)
    port = free_port()
    with open(work / f"agent-{devices}.log", "wb") as log:
        agent = subprocess.Popen(
            [str(Path(sys.executable).parent / "peakline-edge"), "run", "--config", str(config),
             "--agent", "gw1", "--state-dir", str(work / f"state-{devices}"),
             "--metrics-port", str(port), "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        time.sleep(args.warmup)  # connections, first cycles (and COV subscriptions) settle
        proc = psutil.Process(agent.pid)
        before, cpu0, t0 = scrape(port), proc.cpu_times(), time.monotonic()
        rss_peak = 0
        while time.monotonic() - t0 < args.seconds:
            time.sleep(0.5)  # RSS sampling period
            rss_peak = max(rss_peak, proc.memory_info().rss)
        after, cpu1, t1 = scrape(port), proc.cpu_times(), time.monotonic()
    finally:
        agent.terminate()
        agent.wait(60)
    cpu = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / (t1 - t0)
    readings = after.get("all", 0) - before.get("all", 0)
    return {
        "devices": devices,
        "points": ZONES + 4,
        "cov": args.cov,
        "cpu_share_pct": round(100 * cpu, 2),
        "rss_peak_mb": round(rss_peak / 2**20, 1),
        "readings_per_s": round(readings / (t1 - t0), 1),
        "error_readings": int(after.get("error", 0) - before.get("error", 0)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--warmup", type=float, default=15.0)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--cov", action="store_true", help="subscribe COV on every point too")
    args = ap.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(args.devices)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        with Mosquitto.create() as broker, tempfile.TemporaryDirectory() as tmp:
            base = measure(broker, 1, args, Path(tmp))
            full = measure(broker, args.devices, args, Path(tmp))
    finally:
        server.terminate()
        server.wait()
    print(f"baseline: {base}")
    print(f"full: {full}")
    print(json.dumps({"baseline": base, "full": full}))


if __name__ == "__main__":
    main()
