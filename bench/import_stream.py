"""Streamed import at scale: 10 million 15-minute rows (20 meters x 500,000 rows, about
14 years each; one CSV file per meter, generated to a temporary directory) imported with
`--commit` semantics (`import_file(write=True)`: a check pass, then a write pass, a chunk
at a time) into a real influxd, against the raw write rate of the same rows to the same
influxd in the same run (`store.write` of the finished `energy` rows in 5,000-row batches,
under another site tag; no parsing, no comparing).

    python bench/import_stream.py [--meters 20] [--rows 500000]

Prints rows/s by wall time and by this process's CPU time (the machine is shared: CPU
time is the steadier figure), influxd's CPU seconds, this process's RSS sampled every
0.2 s (the peak over the first million rows and over the whole run: streamed, they are
about the same) and the load average. A rich progress bar on stderr shows the rows
imported. Not a test: no assertion beyond the row counts.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from peakline_core.importing import IntervalParser, IntervalSpec, energy_rows
from peakline_store.importing import CHUNK_ROWS, import_file, open_table
from peakline_store.open import open_store
from peakline_testing.servers import Influxd

SPEC = IntervalSpec()  # the times carry their offset (Z)
START = np.datetime64("2012-01-01T00:00", "m")
STEP = np.timedelta64(15, "m")
WRITE_ROWS = 5000
PAGE = os.sysconf("SC_PAGE_SIZE")


def meter_csv(path: Path, seed: int, rows: int) -> None:
    """`rows` 15-minute intervals from 2012 in UTC (`2012-01-01T00:15Z,1.234`)."""
    times = np.datetime_as_string(START + STEP * np.arange(rows), unit="m", timezone="UTC")
    kwh = 1.5 + np.sin((np.arange(rows) + seed) / 40.0)
    with path.open("w") as f:
        f.write("Interval Start,Usage (kWh)\n")
        for i in range(0, rows, 100_000):
            part = zip(times[i : i + 100_000].tolist(), kwh[i : i + 100_000].tolist(), strict=True)
            f.write("".join(f"{t},{v:.3f}\n" for t, v in part))


def rss_mib(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class RssSampler:
    """This process's RSS every `every_s`, with the rows imported when it was taken."""

    every_s: float = 0.2
    rows: int = 0
    samples: list[tuple[int, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.samples.append((self.rows, rss_mib()))

    def stop(self) -> None:
        self._stop.set()

    def peak(self, upto_rows: int | None = None) -> float:
        got = [r for n, r in self.samples if upto_rows is None or n <= upto_rows]
        return max(got, default=0.0)


@dataclass
class Clock:
    wall: float = 0.0
    cpu: float = 0.0

    def __enter__(self) -> Clock:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c


async def raw_write(store: object, path: Path, device: str) -> tuple[int, Clock]:
    """The file's rows written as finished `energy` rows: only `store.write` is timed."""
    clock, n = Clock(), 0
    with open_table(path.name, path) as table:
        parser = IntervalParser(table.header, SPEC)
        parts = [parser.feed(part) for part in table.chunks(CHUNK_ROWS)]
        for rows in [*parts, parser.finish()]:
            out = energy_rows(rows, "s2", device, "import", path.name)
            for i in range(0, len(out), WRITE_ROWS):
                with clock:
                    await store.write(out[i : i + WRITE_ROWS])  # type: ignore[attr-defined]
            n += len(out)
    return n, clock


async def run(meters: int, rows: int, tmp: Path) -> None:
    load0 = os.getloadavg()
    influxd = Influxd.create(tmp / "influx")
    influxd.__enter__()
    sampler = RssSampler()
    thread = threading.Thread(target=sampler.run, daemon=True)
    try:
        influxd.query('CREATE DATABASE "bench"')
        assert influxd.proc is not None
        pid = influxd.proc.pid
        store = open_store(f"{influxd.url}?db=bench")
        imp, raw = Clock(), Clock()
        imp_influx = raw_influx = 0.0
        written = raw_rows = 0
        at_1m: float | None = None
        thread.start()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn())  # fmt: skip
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task("importing rows", total=meters * rows)
            for m in range(meters):
                path = tmp / f"meter{m:03d}.csv"
                await asyncio.to_thread(meter_csv, path, m, rows)
                size = path.stat().st_size
                base = m * rows

                def tick(phase: str, done: int, total: int, base: int = base) -> None:
                    if phase == "write":
                        sampler.rows = base + rows * done // max(total, 1)
                        bar.update(task, completed=sampler.rows)

                c0 = cpu_s(pid)
                with imp:
                    plan = await import_file(
                        store, "interval", path.name, path, "s1", f"m{m}", "import", SPEC,
                        write=True, progress=tick,
                    )  # fmt: skip
                imp_influx += cpu_s(pid) - c0
                assert plan.written == rows and not plan.result.errors, plan.summary()
                written += plan.written
                sampler.rows = written
                if at_1m is None and written >= 1_000_000:
                    at_1m = sampler.peak()
                c0 = cpu_s(pid)
                n, clock = await raw_write(store, path, f"m{m}")
                raw_influx += cpu_s(pid) - c0
                raw.wall += clock.wall
                raw.cpu += clock.cpu
                raw_rows += n
                path.unlink()
                del size
        await store.aclose()
        influx_rss = rss_mib(pid)
    finally:
        sampler.stop()
        if thread.is_alive():
            thread.join()
        influxd.__exit__(None, None, None)
    load1 = os.getloadavg()
    print(f"{meters} meters x {rows:,} rows = {written:,} rows imported into influxd "
          f"(chunks of {CHUNK_ROWS:,} rows)")  # fmt: skip
    print(f"  {'':34s} {'wall s':>8s} {'rows/s wall':>12s} {'CPU s':>8s} {'rows/s CPU':>12s}"
          f" {'influxd CPU s':>14s}")  # fmt: skip
    for name, c, n, infl in (("import (check + write passes)", imp, written, imp_influx),
                             ("raw store.write, same rows", raw, raw_rows, raw_influx)):  # fmt: skip
        print(f"  {name:34s} {c.wall:8.1f} {n / c.wall:12,.0f} {c.cpu:8.1f} {n / c.cpu:12,.0f}"
              f" {infl:14.1f}")  # fmt: skip
    print(
        f"  RSS of this process: peak {at_1m or 0:.0f} MiB over the first 1 M rows, "
        f"peak {sampler.peak():.0f} MiB over all {written / 1e6:.1f} M rows "
        f"(ru_maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, "
        f"{len(sampler.samples)} samples); influxd RSS at the end {influx_rss:.0f} MiB"
    )
    print(
        f"  load average (1, 5, 15 min): start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}, "
        f"end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} on {os.cpu_count()} cores"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--meters", type=int, default=20)
    ap.add_argument("--rows", type=int, default=500_000, help="rows per meter's file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(args.meters, args.rows, Path(tmp)))


if __name__ == "__main__":
    main()
