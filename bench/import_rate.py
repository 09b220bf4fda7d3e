"""Import rate: a year of 15-minute interval data (35,040 rows per meter, CSV) parsed,
planned against the store and committed, against the raw write rate of the same rows to
the same store in the same run (`store.write` of the finished `energy` rows, no parsing).

    python bench/import_rate.py [--meters 4] [--store sqlite|influx]

Prints rows/s for parse, dry run (parse + compare with the store), commit, a re-import's
dry run, and the raw write; and the process's peak RSS. Not a test: no assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from peakline_core.importing import IntervalSpec, energy_rows, parse_interval
from peakline_store.importing import commit, plan_import, read_table
from peakline_store.open import open_store
from peakline_testing.servers import Influxd

SPEC = IntervalSpec(timezone="America/New_York")


def year_csv(seed: int) -> bytes:
    t = datetime(2025, 1, 1, tzinfo=UTC)
    lines = ["Interval Start,Usage (kWh)"]
    for n in range(35_040):
        local = t.astimezone(
            timezone(timedelta(hours=-5))
        )  # a fixed offset in the text: no DST guessing
        lines.append(f"{local.isoformat()},{1.5 + math.sin((n + seed) / 40):.3f}")
        t += timedelta(minutes=15)
    return ("\n".join(lines) + "\n").encode()


async def run(kind: str, meters: int, tmp: Path) -> None:
    influxd = None
    if kind == "influx":
        influxd = Influxd.create(tmp / "influx")
        influxd.__enter__()
        influxd.query('CREATE DATABASE "bench"')
        url = f"{influxd.url}?db=bench"
    else:
        url = f"sqlite:///{tmp / 'store.db'}"
    store = open_store(url)
    files = [year_csv(i) for i in range(meters)]
    rows = 35_040 * meters
    try:
        t0 = time.perf_counter()
        parsed = [parse_interval(*read_table("y.csv", f), SPEC) for f in files]
        t_parse = time.perf_counter() - t0
        t0 = time.perf_counter()
        plans = [
            await plan_import(store, "interval", f"m{i}.csv", f, "s1", f"m{i}", "import", SPEC)
            for i, f in enumerate(files)
        ]
        t_plan = time.perf_counter() - t0
        t0 = time.perf_counter()
        written = sum([await commit(store, p) for p in plans])
        t_commit = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = [
            await plan_import(store, "interval", f"m{i}.csv", f, "s1", f"m{i}", "import", SPEC)
            for i, f in enumerate(files)
        ]
        t_again = time.perf_counter() - t0
        raw = [
            r for i, p in enumerate(parsed) for r in energy_rows(p, "s2", f"m{i}", "import", "x")
        ]
        t0 = time.perf_counter()
        for i in range(0, len(raw), 5000):
            await store.write(raw[i : i + 5000])
        t_raw = time.perf_counter() - t0
    finally:
        await store.aclose()
        if influxd is not None:
            influxd.__exit__(None, None, None)
    assert written == rows and all(not a.to_write for a in again)
    print(f"store {kind}, {meters} meters x 35,040 rows = {rows:,} rows")
    for name, s in (("parse", t_parse), ("dry run (parse + compare)", t_plan),
                    ("commit (write)", t_commit), ("re-import dry run", t_again),
                    ("raw store.write, same rows", t_raw)):  # fmt: skip
        print(f"  {name:28s} {s:7.2f} s  {rows / s:10,.0f} rows/s")
    print(f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--meters", type=int, default=4)
    ap.add_argument("--store", choices=("sqlite", "influx"), default="sqlite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.store, args.meters, Path(tmp)))


if __name__ == "__main__":
    main()
