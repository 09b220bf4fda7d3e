"""The fault scenarios as plain coroutines returning a Tally, so the tests assert on them and
bench/reliability_report.py prints them. Each takes a working directory, the servers it may
stop, and a unique topic prefix; outages last `outage_s` wall seconds (`OUTAGE_S` in the
suite; the report can make them minutes long with --outage-s)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from peakline_testing.servers import Influxd, Mosquitto
from peakline_testing.waiting import eventually
from tests.integration.reliability.harness import OUTAGE_S, Tally, hold, pipeline
from tests.integration.reliability.partition_proxy import partition_proxy

SPOOL_CAP = {"max_bytes": 48 * 1024}  # a few seconds of three meters at 2 Hz


async def broker_restart(
    root: Path,
    mosquitto: Mosquitto,
    influxd: Influxd,
    prefix: str,
    group: str = "",
    outage_s: float = OUTAGE_S,
) -> Tally:
    """Broker stopped under load for `outage_s` (the edge keeps polling and spooling) and
    started again on the same port."""
    async with pipeline(root, mosquitto, influxd, prefix, group=group) as p:
        await p.wait_more_produced(200)
        mosquitto.stop()
        await hold(outage_s)
        mosquitto.start()
        t0 = time.monotonic()
        await p.wait_more_produced(200, max(60, outage_s))
        recovery = time.monotonic() - t0
        name = "broker restart" + (" (shared sub)" if group else "")
        return await p.settle(name, timeout_s=max(60, outage_s), recovery_s=recovery)


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


async def influxd_restart(
    root: Path, mosquitto: Mosquitto, influxd: Influxd, prefix: str, outage_s: float = OUTAGE_S
) -> Tally:
    """influxd stopped under load for `outage_s` and started again on the same port."""
    async with pipeline(root, mosquitto, influxd, prefix) as p:
        await p.wait_more_produced(200)
        influxd.stop()
        await hold(outage_s)
        influxd.start()
        t0 = time.monotonic()
        backlog = p.produced()
        wait_s = max(90, outage_s)
        await p.wait_stored(backlog, wait_s, "backlog stored after restart")
        return await p.settle("influxd restart", timeout_s=wait_s, recovery_s=time.monotonic() - t0)


async def edge_sigkill_in_broker_outage(
    root: Path, mosquitto: Mosquitto, influxd: Influxd, prefix: str, outage_s: float = OUTAGE_S
) -> Tally:
    """Broker down; the edge agent is SIGKILLed mid-outage and restarted; broker back."""
    async with pipeline(root, mosquitto, influxd, prefix, group="") as p:
        await p.wait_more_produced(200)
        mosquitto.stop()
        await hold(outage_s / 2)  # the agent polls and spools while the broker is down
        p.agent.kill()
        p.restart_agent()
        await hold(outage_s / 2)
        mosquitto.start()
        t0 = time.monotonic()
        await eventually(p.spool_drained, 60, "the edge to reconnect and drain", in_thread=True)
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
        await eventually(
            lambda: p.edge_health().get("spool", {}).get("dropped_batches", 0) >= 10,
            60, "the spool cap to drop batches", in_thread=True,
        )  # fmt: skip
        mosquitto.start()
        t0 = time.monotonic()
        await eventually(p.spool_drained, 60, "the edge to reconnect and drain", in_thread=True)
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


async def partition(
    root: Path, mosquitto: Mosquitto, influxd: Influxd, prefix: str, outage_s: float = OUTAGE_S
) -> Tally:
    """The link between the edge and the broker is cut (connections dropped, reconnects
    refused by a loopback proxy) and restored; ingest and broker stay up."""
    async with (
        partition_proxy(mosquitto.host, mosquitto.port) as proxy,
        pipeline(root, mosquitto, influxd, prefix, broker_url_for_edge=proxy.url) as p,
    ):
        await p.wait_more_produced(200)
        await proxy.cut()
        await eventually(
            lambda: not p.edge_health().get("uplink_connected", True), 30, "cut", in_thread=True
        )
        await hold(outage_s)
        await proxy.restore()
        t0 = time.monotonic()
        await eventually(p.spool_drained, 60, "the edge to reconnect and drain", in_thread=True)
        return await p.settle("edge-broker partition", recovery_s=time.monotonic() - t0)
