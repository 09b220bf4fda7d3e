"""BACnet polling benchmark: the edge's BacnetClient reads 50 firmware-sim BACnet devices x 40
points (one ReadPropertyMultiple per device per cycle) every 10 s, staggered across the
interval. The devices are served by a separate process, so their CPU is not charged to the
client. Figures: the client process's CPU share of one core and RSS (psutil); baseline in the
same run: one device. Last line: one JSON object.

    uv run --frozen python bench/bacnet_poll.py [--devices 50] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time

import psutil

from peakline_edge.bacnet import BacnetClient

POINTS = 40  # 4 air-handler points + 36 zone sensors
SERVE = """
import asyncio, sys
from contextlib import AsyncExitStack
from firmware_sim.bacnet import AirHandler, serve_bacnet
async def main(n):
    async with AsyncExitStack() as stack:
        for i in range(n):
            dev = AirHandler(2000 + i, f"ahu-{i}", zone_sensors=36)
            await stack.enter_async_context(serve_bacnet(dev, f"127.0.25.{i + 2}"))
        print("ready", flush=True)
        await asyncio.Event().wait()
asyncio.run(main(int(sys.argv[1])))
"""
OBJECTS = [("analog-input", n) for n in (1, 2, 3)] + [("analog-value", 1)]
OBJECTS += [("analog-input", 100 + n) for n in range(36)]


async def poll(devices: int, seconds: float, interval_s: float) -> dict[str, float]:
    hosts = [f"127.0.25.{i + 2}" for i in range(devices)]
    me = psutil.Process()
    errors = reads = 0
    async with BacnetClient("127.0.25.1/8:47809", timeout_s=2.0) as client:

        async def one(host: str, offset: float, start: float) -> None:
            nonlocal errors, reads
            k = 0
            while True:
                due = start + offset + k * interval_s
                if due > start + seconds:
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))  # the poll schedule
                try:
                    values = await client.read_present_values(host, OBJECTS)
                    reads += len(values)
                except Exception:  # counted: the figure is the error count
                    errors += 1
                k += 1

        cpu0, wall0 = me.cpu_times(), time.monotonic()
        async with asyncio.TaskGroup() as tg:
            for i, host in enumerate(hosts):
                tg.create_task(one(host, interval_s * i / devices, wall0))
        cpu1, wall1 = me.cpu_times(), time.monotonic()
    cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return {
        "devices": devices,
        "points": POINTS,
        "readings": reads,
        "errors": errors,
        "cpu_share_pct": round(100 * cpu / (wall1 - wall0), 2),
        "rss_mb": round(me.memory_info().rss / 2**20, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--interval", type=float, default=10.0)
    args = ap.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(args.devices)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        base = asyncio.run(poll(1, args.seconds, args.interval))
        full = asyncio.run(poll(args.devices, args.seconds, args.interval))
    finally:
        server.terminate()
        server.wait()
    print(f"baseline 1 x {POINTS}: {base}")
    print(f"{args.devices} x {POINTS}: {full}")
    print(json.dumps({"baseline": base, "full": full}))


if __name__ == "__main__":
    main()
