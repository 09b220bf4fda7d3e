"""The fault scenarios as plain coroutines returning a Tally, so the tests assert on them and
bench/reliability_report.py prints them. Each takes a working directory, the servers it may
stop, and a unique topic prefix; outages last `OUTAGE_S` wall seconds."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
from harness import OUTAGE_S, Tally, hold, pipeline, until_async
from partition_proxy import partition_proxy

from peakline_cli.servers import Influxd, Mosquitto

SPOOL_CAP = {"max_bytes": 48 * 1024}  # a few seconds of three meters at 2 Hz


async def broker_restart(
    root: Path, mosquitto: Mosquitto, influxd: Influxd, prefix: str, group: str = ""
) -> Tally:
    """Broker stopped under load and started again on the same port."""
    async with pipeline(root, mosquitto, influxd, prefix, group=group) as p:
        await p.wait_more_produced(200)
        mosquitto.stop()
        await hold(OUTAGE_S)
        mosquitto.start()
        t0 = time.monotonic()
        await p.wait_more_produced(200, 60)
        recovery = time.monotonic() - t0
        wait_s = 60 if group == "" else 20  # the known-failing shared variant need not wait long
        name = "broker restart" + (" (shared sub)" if group else "")
        return await p.settle(name, timeout_s=wait_s, recovery_s=recovery)


async def ingest_sigkill(root: Path, mosquitto: Mosquitto, influxd: Influxd, prefix: str) -> Tally:
    """Ingest SIGKILLed while it holds unacknowledged messages, then started again."""
    async with pipeline(root, mosquitto, influxd, prefix) as p:
        await p.wait_more_produced(300)
        p.ingest.kill()
        await p.wait_more_produced(300)
        t0 = time.monotonic()
        p.restart_ingest()
        backlog = p.produced()
        await p.wait_stored(backlog, 60, "backlog stored after restart")
        return await p.settle("ingest SIGKILL", recovery_s=time.monotonic() - t0)


async def influxd_restart(root: Path, mosquitto: Mosquitto, influxd: Influxd, prefix: str) -> Tally:
    """influxd stopped under load and started again on the same port."""
    async with pipeline(root, mosquitto, influxd, prefix) as p:
        await p.wait_more_produced(200)
        influxd.stop()
        await hold(OUTAGE_S)
        influxd.start()
        t0 = time.monotonic()
        backlog = p.produced()
        await p.wait_stored(backlog, 90, "backlog stored after restart")
        return await p.settle("influxd restart", timeout_s=90, recovery_s=time.monotonic() - t0)


async def edge_sigkill_in_broker_outage(
    root: Path, mosquitto: Mosquitto, influxd: Influxd, prefix: str
) -> Tally:
    """Broker down; the edge agent is SIGKILLed mid-outage and restarted; broker back."""
    async with pipeline(root, mosquitto, influxd, prefix, group="") as p:
        await p.wait_more_produced(200)
        mosquitto.stop()
        await hold(OUTAGE_S / 2)  # the agent polls and spools while the broker is down
        p.agent.kill()
        p.restart_agent()
        await hold(OUTAGE_S / 2)
        mosquitto.start()
        t0 = time.monotonic()
        await until_async(p.spool_drained, 60, "the edge to reconnect and drain")
        recovery = time.monotonic() - t0
        return await p.settle("edge SIGKILL in broker outage", recovery_s=recovery)


async def spool_full(
    root: Path, mosquitto: Mosquitto, influxd: Influxd, prefix: str
) -> tuple[Tally, dict[str, int]]:
    """A gateway spool capped at 48 KiB overflows during a broker outage. Returns the tally
    (produced = what was published) and the policy check: the spool's own drop counters and
    the batches missing from the published sequence."""
    async with pipeline(root, mosquitto, influxd, prefix, spool=SPOOL_CAP, group="") as p:
        await p.wait_more_produced(200)
        mosquitto.stop()
        await until_async(
            lambda: p.edge_health().get("spool", {}).get("dropped_batches", 0) >= 10,
            60, "the spool cap to drop batches",
        )  # fmt: skip
        mosquitto.start()
        t0 = time.monotonic()
        await until_async(p.spool_drained, 60, "the edge to reconnect and drain")
        recovery = time.monotonic() - t0
        tally = await p.settle("spool full (drop oldest)", recovery_s=recovery)
        health = p.edge_health()["spool"]
    seqs = sorted({b.seq for b in p.collector.batches})
    missing = set(range(seqs[0], seqs[-1] + 1)) - set(seqs)
    sizes = Counter(len(b.readings) for b in p.collector.batches)
    policy = {
        "reported_dropped_batches": health["dropped_batches"],
        "reported_dropped_readings": health["dropped_readings"],
        "missing_batches": len(missing),
        "readings_per_batch": min(sizes) if len(sizes) == 1 else -1,
    }
    return replace(tally, dropped_by_policy=health["dropped_readings"]), policy


async def partition(root: Path, mosquitto: Mosquitto, influxd: Influxd, prefix: str) -> Tally:
    """The link between the edge and the broker is cut (connections dropped, reconnects
    refused by a loopback proxy) and restored; ingest and broker stay up."""
    async with (
        partition_proxy(mosquitto.host, mosquitto.port) as proxy,
        pipeline(root, mosquitto, influxd, prefix, broker_url_for_edge=proxy.url) as p,
    ):
        await p.wait_more_produced(200)
        await proxy.cut()
        await until_async(lambda: not p.edge_health().get("uplink_connected", True), 30, "cut")
        await hold(OUTAGE_S)
        await proxy.restore()
        t0 = time.monotonic()
        await until_async(p.spool_drained, 60, "the edge to reconnect and drain")
        return await p.settle("edge-broker partition", recovery_s=time.monotonic() - t0)


async def soak(work: Path, minutes: float, devices: int, sample_s: float = 5.0) -> dict[str, Any]:
    """N devices polled every 2 s for `minutes` on throwaway servers; the RSS (MiB) of every
    process sampled every `sample_s`, summarised as the median of the first and last thirds."""
    with Mosquitto.create() as mosquitto, Influxd.create() as influxd:
        prefix = f"s{uuid.uuid4().hex[:10]}"
        async with pipeline(
            work / "soak", mosquitto, influxd, prefix, devices=devices, poll_s=2.0, group=""
        ) as p:
            procs = {
                "edge": p.agent.proc.pid, "ingest": p.ingest.proc.pid,  # type: ignore[union-attr]
                "mosquitto": mosquitto.proc.pid, "influxd": influxd.proc.pid,  # type: ignore[union-attr]
                "firmware-sim+harness": psutil.Process().pid,
            }  # fmt: skip
            series: dict[str, list[float]] = {k: [] for k in procs}
            t0 = time.monotonic()
            while time.monotonic() - t0 < minutes * 60:
                for k, pid in procs.items():
                    series[k].append(psutil.Process(pid).memory_info().rss / 2**20)
                await asyncio.sleep(sample_s)  # the sampling period
            elapsed = time.monotonic() - t0
            tally = await p.settle(f"soak {devices} devices {minutes:g} min", timeout_s=120)
    memory = {}
    for k, xs in series.items():
        third = max(1, len(xs) // 3)
        first, last = statistics.median(xs[:third]), statistics.median(xs[-third:])
        memory[k] = {
            "first_third_mib": round(first, 1),
            "last_third_mib": round(last, 1),
            "growth_pct": round(100 * (last - first) / first, 1),
            "samples": len(xs),
        }
    return {**tally.row(), "readings_per_s": round(tally.stored / elapsed, 1), "memory": memory}
