"""Emissions core throughput: a year of 15-minute meter data for many sites.

Per chunk of sites: cumulative counters (with gaps and resets) -> interval kWh -> Scope 2
location-based (hourly intensity series) and market-based (two instruments + residual mix)
-> monthly roll-ups in local time. Data generation is not timed. The pandas baseline does
the same steps (simpler gap handling) on a subset of sites, scaled by readings; the output
says so. Last line: one JSON object.

    uv run --frozen python bench/emissions_speed.py [--sites 10000] [--chunk 50]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from peakline_core.emissions import (
    InstrumentBlock,
    interval_energy_from_counter,
    rollup,
    scope2_location,
    scope2_market,
)

Q_NS = 900_000_000_000
YEAR_START = np.datetime64("2024-01-01T00:00", "ns").astype(np.int64) - 8 * 3_600_000_000_000


def make_counters(rng: np.random.Generator, sites: int, readings: int) -> np.ndarray:
    inc = rng.gamma(2.0, 5.0, size=(sites, readings - 1))
    counter = np.empty((sites, readings))
    counter[:, 0] = rng.uniform(0, 1e5, sites)
    np.cumsum(inc, axis=1, out=counter[:, 1:])
    counter[:, 1:] += counter[:, :1]
    counter[rng.random((sites, readings)) < 0.001] = np.nan  # gaps
    reset = rng.integers(1, readings, sites)
    rows = np.arange(sites)
    counter[rows[:, None], np.arange(readings)[None, :]] -= np.where(
        np.arange(readings)[None, :] >= reset[:, None], counter[rows, reset - 1][:, None], 0.0
    )
    return counter


def numpy_chunk(ts, counter, intensity, block, residual):
    kwh = interval_energy_from_counter(ts, counter)
    starts = ts[:-1]
    loc = scope2_location(kwh, intensity)
    mkt = scope2_market(kwh, block, residual)
    m_loc = rollup(starts, loc, "month", "Asia/Shanghai")
    m_mkt = rollup(starts, mkt.kg, "month", "Asia/Shanghai")
    return float(m_loc.values.sum()), float(m_mkt.values.sum())


def pandas_chunk(ts, counter, intensity, block, residual):
    sites, n = counter.shape
    df = pd.DataFrame(
        {
            "site": np.repeat(np.arange(sites), n),
            "ts": pd.to_datetime(np.tile(ts, sites), utc=True),
            "counter": counter.reshape(-1),
        }
    )
    df["kwh"] = df.groupby("site")["counter"].diff().shift(-1)
    df.loc[df["kwh"] < 0, "kwh"] = df.groupby("site")["counter"].shift(-1)
    df = df[df["ts"] < pd.Timestamp(int(ts[-1]), tz="UTC")]
    inten = pd.DataFrame({"ts": pd.to_datetime(ts[:-1], utc=True), "intensity": intensity})
    df = df.merge(inten, on="ts", how="left")
    df["loc"] = df["kwh"] * df["intensity"]
    cum = df.groupby("site")["kwh"].cumsum()
    cap = df["site"].map(pd.Series(block.kwh.sum(axis=1)))
    covered = (cum.clip(upper=cap) - (cum - df["kwh"].fillna(0)).clip(upper=cap)).clip(lower=0)
    df["mkt"] = (df["kwh"] - covered) * residual  # instruments at 0 kgCO2e/kWh
    local = df["ts"].dt.tz_convert("Asia/Shanghai")
    df["month"] = local.dt.year * 100 + local.dt.month  # integer key: no string formatting
    out = df.groupby(["site", "month"])[["loc", "mkt"]].sum()
    return float(out["loc"].sum()), float(out["mkt"].sum())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sites", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=50)  # ~14 MB arrays: cache-friendlier
    ap.add_argument("--baseline-sites", type=int, default=100)
    args = ap.parse_args()
    readings = 366 * 96 + 1  # 2024 is a leap year; one extra reading closes the last interval
    ts = YEAR_START + np.arange(readings, dtype=np.int64) * Q_NS
    hours = (np.arange(readings - 1) // 4).astype(np.float64)
    intensity = 0.55 + 0.15 * np.sin(2 * np.pi * hours / 24.0)  # kgCO2e/kWh, hourly steps
    rng = np.random.default_rng(7)
    residual = 0.6096

    def instruments(n: int) -> InstrumentBlock:
        return InstrumentBlock(
            np.tile([[200_000.0, 100_000.0]], (n, 1)), np.tile([[0.0, 0.1]], (n, 1))
        )

    total_s = 0.0
    done = 0
    while done < args.sites:
        n = min(args.chunk, args.sites - done)
        counter = make_counters(rng, n, readings)
        t0 = time.perf_counter()
        numpy_chunk(ts, counter, intensity, instruments(n), residual)
        total_s += time.perf_counter() - t0
        done += n
    numpy_readings = args.sites * readings
    counter = make_counters(rng, args.baseline_sites, readings)
    t0 = time.perf_counter()
    pandas_chunk(ts, counter, intensity, instruments(args.baseline_sites), residual)
    pandas_s = time.perf_counter() - t0
    pandas_rate = args.baseline_sites * readings / pandas_s
    numpy_rate = numpy_readings / total_s
    result = {
        "bench": "emissions_speed",
        "sites": args.sites,
        "readings": numpy_readings,
        "chunk_sites": args.chunk,
        "numpy_seconds": round(total_s, 2),
        "numpy_readings_per_s": round(numpy_rate),
        "pandas_sites": args.baseline_sites,
        "pandas_seconds": round(pandas_s, 2),
        "pandas_readings_per_s": round(pandas_rate),
        "pandas_note": "baseline on a subset of sites, scaled by readings per second",
        "speedup": round(numpy_rate / pandas_rate, 1),
        "target_speedup": 20,
    }
    print(f"numpy: {numpy_readings:,} readings in {total_s:.1f} s ({numpy_rate:,.0f}/s)")
    print(f"pandas ({args.baseline_sites} sites): {pandas_s:.1f} s ({pandas_rate:,.0f}/s)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
