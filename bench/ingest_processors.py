"""Cost of ingest's batch processors per batch, against building the batch's reading block.

A batch of `--series` meters x `--steps` readings (power W and an import counter kWh, 10 s
apart) goes through `reading_block` (the baseline: work ingest does on every batch anyway),
then `AnomalyProcessor.process` and `EnergyProcessor.process`, over several consecutive
batches so carried state is exercised. Prints figures, JSON on the last line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from peakline_core.wire import Reading, TelemetryBatch, Topics
from peakline_ingest.blocks import reading_block
from peakline_ingest.processors_anomaly import AnomalyProcessor
from peakline_ingest.processors_energy import EnergyProcessor, EnergySource
from peakline_ingest.validate import Accepted

S = 1_000_000_000


def accepted(series: int, steps: int, batch: int, rng: np.random.Generator) -> list[Accepted]:
    out = []
    t0 = 1_767_225_600 * S + batch * steps * 10 * S
    for m in range(series):
        ts = t0 + np.arange(steps, dtype=np.int64) * 10 * S
        power = 20_000 + rng.normal(0, 300, steps)
        energy = 1000 + (batch * steps + np.arange(steps)) * 0.05
        ts2 = np.concatenate([ts, ts])
        values = np.concatenate([power, energy])
        points = ["power_total"] * steps + ["import_energy"] * steps
        tb = TelemetryBatch("gw", f"s{m % 50}", f"m{m}", batch, int(ts[-1]),
                            [Reading(points[0], int(ts[0]), 0.0)])  # fmt: skip
        out.append(Accepted(tb, points, values, np.zeros(2 * steps, np.int64),
                            [None] * (2 * steps), ts2))  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=500)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batches", type=int, default=6)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    sources = [EnergySource(f"s{m % 50}", f"m{m}", "import_energy", "import", "counter", 1.0)
               for m in range(args.series)]  # fmt: skip
    energy = EnergyProcessor(sources, {f"s{i}": "CN-EAST" for i in range(50)})
    anomaly = AnomalyProcessor(Topics("bench"))
    times: dict[str, float] = {"block": 0.0, "anomaly": 0.0, "energy": 0.0}
    readings = 0
    for b in range(args.batches):
        msgs = accepted(args.series, args.steps, b, rng)
        t = time.perf_counter()
        block = reading_block(msgs)
        times["block"] += time.perf_counter() - t
        t = time.perf_counter()
        anomaly.process(msgs, block)
        times["anomaly"] += time.perf_counter() - t
        t = time.perf_counter()
        energy.process(msgs, block)
        times["energy"] += time.perf_counter() - t
        readings += len(block)
    per = {k: readings / v for k, v in times.items()}
    for k, v in per.items():
        print(f"{k:8s} {v:12,.0f} readings/s  ({times[k] / args.batches * 1e3:.1f} ms per batch)")
    print(json.dumps({"readings_per_batch": readings // args.batches,
                      "baseline_block_rps": round(per["block"]),
                      "anomaly_rps": round(per["anomaly"]), "energy_rps": round(per["energy"])}))  # fmt: skip


if __name__ == "__main__":
    main()
