"""Cost of the deriver (energy walks, anomaly scores, roll-ups) per stored reading.

`--series` meters, each with power (W) and an import counter (kWh) every 10 s, are stored
in a SQLite store for `--minutes`; the deriver then steps over them at its default step
(`tick_s` apart, as deployed) with every part on: energy tracks for every counter, anomaly
scoring of every series, hourly and daily roll-ups and location-based emissions. The
baseline, measured in the same run, is reading the same span back with `good_readings`
(what any derivation has to do). Prints figures, JSON on the last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from peakline_core.config.loader import load_config
from peakline_core.storage import RowBlock
from peakline_core.storage.schema import READING
from peakline_core.wire import Topics
from peakline_ingest.derive import Deriver, DeriveSettings, EnergySource
from peakline_ingest.derive.readings import good_readings
from peakline_ingest.processors_anomaly import AnomalyProcessor
from peakline_store.sqlite import SqliteStore

S = 1_000_000_000
T0 = 1_767_225_600 * S
CONFIG = Path(__file__).resolve().parents[1] / "config"


def readings(series: int, minutes: int, rng: np.random.Generator) -> RowBlock:
    steps = minutes * 6
    ts = T0 + np.arange(steps, dtype=np.int64) * 10 * S
    tags, idx, values, times = [], [], [], []
    for m in range(series):
        power = 20_000 + rng.normal(0, 300, steps)
        energy = 1000 + np.cumsum(power / 1000 * 10 / 3600)
        for point, v in (("power_total", power), ("import_energy", energy)):
            idx.append(np.full(steps, len(tags)))
            tags.append({"site": f"s{m % 50}", "device": f"m{m}", "point": point})
            values.append(v)
            times.append(ts)
    n = steps * len(tags)
    return RowBlock(
        READING,
        tags,
        np.concatenate(idx).astype(np.intp),
        {"value": np.concatenate(values), "quality": np.zeros(n, np.int64)},
        np.concatenate(times),
    )


async def run(series: int, minutes: int, tick_s: float, energy: bool = True) -> dict[str, float]:
    book = load_config(CONFIG).factor_book()
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "store.db")
        block = readings(series, minutes, rng)
        await store.write_blocks([block])
        end = T0 + minutes * 60 * S
        t = time.process_time()
        got = await good_readings(store, T0, end)
        read_s = time.process_time() - t
        sources = [EnergySource(f"s{m % 50}", f"m{m}", "import_energy", "import", "counter", 1.0)
                   for m in range(series)] if energy else []  # fmt: skip
        deriver = Deriver(
            store,
            sources,
            {f"s{i}": "CN-EAST" for i in range(50)},
            book,
            DeriveSettings(tick_s=tick_s),
            anomaly=AnomalyProcessor(Topics("bench")),
        )
        deriver.start_at(T0)
        tick = int(tick_s * S)
        now = T0 + int(DeriveSettings().lateness_s * S)
        t = time.process_time()
        while now < end + 11 * S:
            now += tick
            await deriver.step_to(now)
        derive_s = time.process_time() - t
        await store.aclose()
    n = len(got)
    return {"readings": n, "read_rps": n / read_s, "derive_rps": n / derive_s,
            "rows_written": deriver.rows_written, "steps": (end - T0) // tick}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=200, help="meters (2 series each)")
    ap.add_argument("--minutes", type=int, default=30)
    ap.add_argument("--tick-s", type=float, default=DeriveSettings().tick_s,
                    help="step interval (default: the deployed default)")  # fmt: skip
    ap.add_argument("--no-energy", action="store_true", help="anomaly scoring and roll-ups only")
    args = ap.parse_args()
    r = asyncio.run(run(args.series, args.minutes, args.tick_s, not args.no_energy))
    print(f"readings stored             {r['readings']:12,.0f}")
    print(f"baseline: read back         {r['read_rps']:12,.0f} readings per CPU-second")
    print(f"deriver, every part on      {r['derive_rps']:12,.0f} readings per CPU-second "
          f"({r['steps']} steps, {r['rows_written']:,} rows written)")  # fmt: skip
    print(json.dumps({k: round(v) for k, v in r.items()}))


if __name__ == "__main__":
    main()
