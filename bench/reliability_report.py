"""Reliability report: runs the fault scenarios of tests/integration/reliability through the
whole pipeline (firmware-sim -> edge agent process -> mosquitto -> ingest process -> influxd)
on throwaway servers on free loopback ports, and prints one row per scenario: readings
produced, stored, lost, duplicated, dropped by a stated policy, and recovery time (seconds
from the fault's end until the backlog is through). A no-fault run of the same pipeline is the
baseline measured in the same run. Optionally a soak: N devices for M minutes with the RSS of
every process sampled every 5 s (median of the first vs the last third) and throughput.
Last line: a JSON object.

    python bench/reliability_report.py [--only NAME ...] [--soak-minutes M --soak-devices N]
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

REPO = Path(__file__).resolve().parents[1]
for extra in (
    "tests/integration/reliability",
    "tests/integration/edge",
    "tests/integration/ingest",
):
    sys.path.insert(0, str(REPO / extra))

import scenarios  # noqa: E402
from harness import Tally, pipeline  # noqa: E402

from peakline_cli.servers import Influxd, Mosquitto  # noqa: E402


async def baseline(root: Path, mosquitto: Mosquitto, influxd: Influxd, prefix: str) -> Tally:
    """No fault: the same pipeline for the same amount of load."""
    async with pipeline(root, mosquitto, influxd, prefix, group="") as p:
        await p.wait_more_produced(600)
        return await p.settle("no fault (baseline)")


SCENARIOS = {
    "baseline": baseline,
    "broker_restart": scenarios.broker_restart,
    "broker_restart_shared": lambda r, m, i, p: scenarios.broker_restart(r, m, i, p, "ingest"),
    "ingest_sigkill": scenarios.ingest_sigkill,
    "influxd_restart": scenarios.influxd_restart,
    "edge_sigkill_in_broker_outage": scenarios.edge_sigkill_in_broker_outage,
    "spool_full": scenarios.spool_full,
    "partition": scenarios.partition,
}


async def run_one(name: str, work: Path) -> dict[str, Any]:
    with Mosquitto.create() as mosquitto, Influxd.create() as influxd:
        prefix = f"r{uuid.uuid4().hex[:10]}"
        result = await SCENARIOS[name](work / name, mosquitto, influxd, prefix)
    if isinstance(result, tuple):
        tally, policy = result
        return {"name": name, **tally.row(), "policy": policy}
    return {"name": name, **result.row()}


def table(rows: list[dict[str, Any]]) -> str:
    head = f"{'scenario':34} {'produced':>9} {'stored':>9} {'lost':>6} {'dup':>5} {'dropped':>8} {'recovery_s':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        rec = "-" if r["recovery_s"] is None else f"{r['recovery_s']:.1f}"
        lines.append(
            f"{r['scenario']:34} {r['produced']:>9} {r['stored']:>9} {r['lost']:>6} "
            f"{r['duplicated']:>5} {r['dropped_by_policy']:>8} {rec:>10}"
        )
    return "\n".join(lines)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), default=None)
    ap.add_argument("--soak-minutes", type=float, default=0.0)
    ap.add_argument("--soak-devices", type=int, default=500)
    args = ap.parse_args()
    names = args.only if args.only is not None else list(SCENARIOS)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="peakline-rel-") as tmp:
        for name in names:
            t0 = time.monotonic()
            rows.append(await run_one(name, Path(tmp)))
            rows[-1]["wall_s"] = round(time.monotonic() - t0, 1)
            print(f"  {name}: done in {rows[-1]['wall_s']} s", file=sys.stderr)
        soak_result = None
        if args.soak_minutes > 0:
            soak_result = await scenarios.soak(Path(tmp), args.soak_minutes, args.soak_devices)
    print(table(rows))
    for r in rows:
        if "policy" in r:
            print(f"{r['scenario']}: policy {r['policy']}")
    if soak_result is not None:
        print(f"soak: {soak_result['stored']} readings, {soak_result['readings_per_s']}/s, "
              f"lost {soak_result['lost']}, duplicated {soak_result['duplicated']}")  # fmt: skip
        for k, m in soak_result["memory"].items():
            print(f"  {k:22} RSS {m['first_third_mib']} -> {m['last_third_mib']} MiB "
                  f"({m['growth_pct']:+}%)")  # fmt: skip
    print(json.dumps({"scenarios": rows, "soak": soak_result}))


if __name__ == "__main__":
    asyncio.run(main())
