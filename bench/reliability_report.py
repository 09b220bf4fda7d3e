"""Reliability report: runs the fault scenarios of tests/integration/reliability through the
whole pipeline (firmware-sim -> edge agent process -> mosquitto -> ingest process -> influxd)
on throwaway servers on free loopback ports, and prints one row per scenario: readings
produced, stored, lost, duplicated, dropped by a stated policy, and recovery time (seconds
from the fault's end until the backlog is through). A no-fault run of the same pipeline is the
baseline measured in the same run. `--outage-s S` makes every outage (broker, influxd,
partition, broker outage with an edge kill) last S seconds instead of the suite's few seconds.

Optionally a soak (tests/integration/reliability/soak.py): a district of N meters over K edge
agents (one gateway per site, 50 meters each by default) for M minutes, every component its own
process; the RSS of every process sampled every 5 s, start/mid/end and the Theil-Sen slope over
the second half with a growth verdict (memtrend.py); throughput produced and stored; loss and
duplicates counted reading by reading. Last line: a JSON object. It runs as a module from the
repository root, which imports the suite's scenarios as the package `tests`:

    python -m bench.reliability_report [--only NAME ...] [--outage-s S]
        [--soak-minutes M --soak-devices N --soak-agents K --soak-poll-s P]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from peakline_testing.servers import Influxd, Mosquitto
from tests.integration.reliability import scenarios, soak
from tests.integration.reliability.harness import Tally, pipeline

REPO = Path(__file__).resolve().parents[1]


async def baseline(root: Path, mosquitto: Mosquitto, influxd: Influxd, prefix: str) -> Tally:
    """No fault: the same pipeline for the same amount of load."""
    async with pipeline(root, mosquitto, influxd, prefix, group="") as p:
        await p.wait_more_produced(600)
        return await p.settle("no fault (baseline)")


SCENARIOS = {
    "baseline": baseline,
    "broker_restart": scenarios.broker_restart,
    "broker_restart_shared": lambda r, m, i, p, **kw: scenarios.broker_restart(
        r, m, i, p, "ingest", **kw
    ),
    "ingest_sigkill": scenarios.ingest_sigkill,
    "influxd_restart": scenarios.influxd_restart,
    "edge_sigkill_in_broker_outage": scenarios.edge_sigkill_in_broker_outage,
    "spool_full": scenarios.spool_full,
    "partition": scenarios.partition,
}


# scenarios with an outage of a set length (the others are kills or a size cap)
TIMED = {"broker_restart", "broker_restart_shared", "influxd_restart", "partition",
         "edge_sigkill_in_broker_outage"}  # fmt: skip


async def run_one(name: str, work: Path, outage_s: float | None) -> dict[str, Any]:
    kw = {"outage_s": outage_s} if outage_s is not None and name in TIMED else {}
    with Mosquitto.create() as mosquitto, Influxd.create() as influxd:
        prefix = f"r{uuid.uuid4().hex[:10]}"
        result = await SCENARIOS[name](work / name, mosquitto, influxd, prefix, **kw)
    if isinstance(result, tuple):
        tally, policy = result
        return {"name": name, **tally.row(), "policy": policy}
    return {"name": name, **result.row(), **kw}


def table(rows: list[dict[str, Any]]) -> str:
    head = f"{'scenario':46} {'produced':>9} {'stored':>9} {'lost':>6} {'dup':>5} {'dropped':>8} {'recovery_s':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        rec = "-" if r["recovery_s"] is None else f"{r['recovery_s']:.1f}"
        name = r["scenario"] + (f", {r['outage_s']:g} s outage" if "outage_s" in r else "")
        lines.append(
            f"{name:46} {r['produced']:>9} {r['stored']:>9} {r['lost']:>6} "
            f"{r['duplicated']:>5} {r['dropped_by_policy']:>8} {rec:>10}"
        )
    return "\n".join(lines)


def soak_table(r: dict[str, Any]) -> str:
    lines = [
        f"soak: {r['devices']} meters over {r['agents']} edge agents, polled every "
        f"{r['poll_s']:g} s, {r['elapsed_s']:.0f} s",
        f"  produced {r['produced']}, stored {r['stored']}, lost {r['lost']}, duplicated "
        f"{r['duplicated']}, produced twice {r['produced_twice']}, left in spool "
        f"{r['left_in_spool']}, batches redelivered {r['redelivered_batches']}",
        f"  throughput: produced {r['produced_per_s']}/s, stored {r['stored_per_s']}/s "
        f"(poll rate {r['polled_rate_per_s']}/s); not yet stored (readings) mid "
        f"{r['backlog']['not_yet_stored']['mid']:.0f}, end {r['backlog']['not_yet_stored']['end']:.0f}"
        f", max {r['backlog']['not_yet_stored']['max']:.0f}",
        f"  edge agents' own counters: {r['edge']['cycles_per_s']} poll cycles/s (nominal "
        f"{r['edge']['nominal_cycles_per_s']}), {r['edge']['readings_per_s']} readings/s, "
        f"{r['edge']['failed_requests']} failed requests",
        f"  {'process':24} {'start':>7} {'mid':>7} {'end':>7} {'max':>7} "
        f"{'slope MiB/h':>11} {'limit':>7} verdict",
    ]
    mem = {**r["memory"], **r["influxd_internals"]}
    for k, m in mem.items():
        lines.append(
            f"  {k:24} {m['start_mib']:>7} {m['mid_mib']:>7} {m['end_mib']:>7} "
            f"{m['max_mib']:>7} {m['slope_mib_per_h']:>11} {m['threshold_mib_per_h']:>7} "
            f"{'GROWS' if m['grows'] else 'flat'}"
        )
    return "\n".join(lines)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), default=None)
    ap.add_argument("--soak-minutes", type=float, default=0.0)
    ap.add_argument("--soak-devices", type=int, default=500)
    ap.add_argument("--soak-agents", type=int, default=0, help="0: one per 50 meters")
    ap.add_argument("--soak-poll-s", type=float, default=2.0)
    ap.add_argument("--soak-series", type=Path, default=None, help="write raw samples (JSON)")
    ap.add_argument("--outage-s", type=float, default=None, help="default: the suite's")
    args = ap.parse_args()
    names = args.only if args.only is not None else list(SCENARIOS)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="peakline-rel-") as tmp:
        for name in names:
            t0 = time.monotonic()
            rows.append(await run_one(name, Path(tmp), args.outage_s))
            rows[-1]["wall_s"] = round(time.monotonic() - t0, 1)
            print(f"  {name}: done in {rows[-1]['wall_s']} s", file=sys.stderr)
        soak_result = None
        if args.soak_minutes > 0:
            soak_result = await soak.soak(
                Path(tmp), args.soak_minutes, args.soak_devices, args.soak_agents, args.soak_poll_s
            )
    print(table(rows))
    for r in rows:
        if "policy" in r:
            print(f"{r['scenario']}: policy {r['policy']}")
    if soak_result is not None:
        samples = soak_result.pop("samples")
        if args.soak_series is not None:
            args.soak_series.write_text(json.dumps(samples))
        print(soak_table(soak_result))
    print(json.dumps({"scenarios": rows, "soak": soak_result}))


if __name__ == "__main__":
    asyncio.run(main())
