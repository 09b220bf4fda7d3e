"""Export rate: a city's archive (`peakline export`, a subprocess) of 1-minute readings and
energy windows, against the store's raw read rate of the same readings in the same run
(`store.query` of each of its fields per site and day: no merging, CSV or zip), and the restore
(`peakline import archive`) into an empty store. Peak RSS of each subprocess, for two
period lengths: streamed, it should not grow with the period.

    python bench/export_rate.py [--store sqlite|influx] [--days 30] [--points 4]

Riverton's 8 sites of the example config, `--points` readings per site every minute plus one
meter's energy window per minute. Not a test: no assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from peakline_core.config import load_config
from peakline_core.storage import RowBlock, SeriesQuery
from peakline_core.storage.schema import ENERGY, READING
from peakline_store.open import open_store
from peakline_testing.servers import Influxd

REPO = Path(__file__).resolve().parents[1]
NS = 1_000_000_000
DAY = 86_400 * NS
START = 1_735_689_600 * NS  # 2025-01-01T00:00Z
CITY = "riverton"


def blocks(sites: list[str], points: int, day: int) -> list[RowBlock]:
    """One day of 1-minute readings (`points` per site) and energy windows (one per site)."""
    ts = START + day * DAY + np.arange(1440, dtype=np.int64) * 60 * NS
    n = len(sites)
    wave = 20_000 + 5_000 * np.sin(np.arange(1440) / 90.0)
    reading_tags = [{"site": s, "device": f"{s}-m", "point": f"p{p}"} for s in sites
                    for p in range(points)]  # fmt: skip
    k = len(reading_tags)
    readings = RowBlock(
        READING,
        reading_tags,
        np.repeat(np.arange(k), 1440),
        {"value": np.tile(np.round(wave, 3), k), "quality": np.zeros(k * 1440, np.int64)},
        np.tile(ts, k),
    )
    kwh = np.tile(wave / 60_000, n)
    energy = RowBlock(
        ENERGY,
        [{"site": s, "device": f"{s}-m", "flow": "import"} for s in sites],
        np.repeat(np.arange(n), 1440),
        {
            "kwh": kwh,
            "estimated_kwh": np.zeros(n * 1440),
            "suspect_kwh": np.zeros(n * 1440),
            "covered_s": np.full(n * 1440, 60.0),
            "suspect_n": np.zeros(n * 1440, np.int64),
            "quality": np.array(["measured"] * (n * 1440), dtype=object),
        },
        np.tile(ts, n),
    )
    return [readings, energy]


def child(args: list[str]) -> tuple[float, float]:
    """Run a `peakline` command; (wall seconds, its own peak RSS in MiB, from wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "peakline_cli.main", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=os.environ,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "failed")
    return wall, usage.ru_maxrss / 1024


async def run(kind: str, days: int, points: int, tmp: Path) -> None:
    influxd = None
    if kind == "influx":
        influxd = Influxd.create(tmp / "influx")
        influxd.__enter__()
        influxd.query('CREATE DATABASE "bench"')
        influxd.query('CREATE DATABASE "restored"')
        url = f"{influxd.url}?db=bench"
        restored = f"{influxd.url}?db=restored"
    else:
        url = f"sqlite:///{tmp / 'store.db'}"
        restored = f"sqlite:///{tmp / 'restored.db'}"
    config = load_config(REPO / "config")
    sites = sorted(s.id for s in config.sites.values() if s.city == CITY)
    store = open_store(url)
    try:
        t0 = time.perf_counter()
        for day in range(days):
            await store.write_blocks(blocks(sites, points, day))
        readings = len(sites) * points * 1440 * days
        energy = len(sites) * 1440 * days
        print(f"{kind}: {len(sites)} sites x {points} points + 1 energy window, 1-minute, "
              f"{days} days: {readings:,} readings + {energy:,} energy rows "
              f"(stored in {time.perf_counter() - t0:.0f} s)")  # fmt: skip
        t0 = time.perf_counter()
        got = 0
        for site in sites:
            for day in range(days):
                lo = START + day * DAY
                for field in ("value", "text", "quality"):  # the fields the export reads
                    q = SeriesQuery(READING, field, lo, lo + DAY, {"site": [site]})
                    answer = await store.query(q)
                    got += sum(len(s.times) for s in answer) if field == "value" else 0
        raw_s = time.perf_counter() - t0
        assert got == readings, (got, readings)
        print(f"  raw read of the readings (store.query of its 3 fields per site and day):"
              f" {got / raw_s:,.0f} rows/s")  # fmt: skip
    finally:
        await store.aclose()

    empty = tmp / "empty.zip"  # a day with no data: the CLI's start-up and config load
    wall, rss = child(["export", "--city", CITY, "--from", "2024-01-01", "--to", "2024-01-02",
                       "-o", str(empty), "--store", url, "--config", str(REPO / "config")])  # fmt: skip
    print(
        f"  export of an empty day (start-up, config, COUNTs): {wall:.1f} s, peak RSS {rss:.0f} MiB"
    )
    for span in sorted({max(1, days // 3), days}):
        out = tmp / f"{CITY}-{span}.zip"
        end = time.strftime("%Y-%m-%d", time.gmtime((START + span * DAY) / NS))
        wall, rss = child(["export", "--city", CITY, "--from", "2025-01-01", "--to", end,
                           "-o", str(out), "--store", url, "--config", str(REPO / "config")])  # fmt: skip
        with zipfile.ZipFile(out) as z:
            members = json.loads(z.read("manifest.json"))["members"]
        rows = sum(m["rows"] for n, m in members.items() if n.startswith("series/"))
        print(f"  export {span:>3} days: {rows:,} rows in {wall:.1f} s = {rows / wall:,.0f} rows/s,"
              f" peak RSS {rss:.0f} MiB, archive {out.stat().st_size / 2**20:.1f} MiB")  # fmt: skip
        if span == days:
            wall, rss = child(["import", "archive", str(out), "--store", restored])
            print(f"  restore {span:>2} days: {rows / wall:,.0f} rows/s, peak RSS {rss:.0f} MiB")
    if influxd is not None:
        influxd.__exit__(None, None, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "influx"], default="sqlite")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--points", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.store, args.days, args.points, Path(tmp)))


if __name__ == "__main__":
    main()
