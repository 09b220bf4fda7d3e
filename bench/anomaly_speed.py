"""Anomaly scoring throughput: 10,000 series x 1,440 one-minute samples, all detectors on,
against a straightforward pandas rolling implementation measured in the same run.

    uv run --frozen python bench/anomaly_speed.py [--series 10000] [--samples 1440] [--repeats 3]
        [--warm-days 3] [--own-clocks]

The pandas baseline computes what a data scientist would write per series in a long table:
rolling median and MAD z-score (spikes), rolling std == 0 (flatline), interval vs rolling
median interval (gaps), and per-hour-of-day mean/std over the rows so far (seasonal), with
`groupby(series).rolling(...)`. It is batch-only and far from causal-streaming equivalent,
but it is the obvious thing to compare to. JSON object on the last line.

By default the series are read in step (one timestamp row for all, as a gateway polls a
device's registers); `--own-clocks` puts each series on its own clock, seconds apart, which
takes the engine's general path (per-series timestamps).

One core, one thread: BLAS/OpenMP pools are limited to one thread before numpy loads and the
process is pinned to one CPU. The engine's scoring is timed `--repeats` times (fresh engine
each time); the median is reported, as wall-clock and as CPU time of the process (the
latter is what one core delivers when other processes share the machine).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from peakline_core.anomaly import AnomalyEngine  # noqa: E402

NS = 1_000_000_000


def data(
    series: int, samples: int, day: int = 0, own_clocks: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """One-minute readings of `day` (0: the timed day, negative: the days before it), read in
    step, or with `own_clocks` each series on its own clock (0 to 58 s after the minute)."""
    rng = np.random.default_rng(0 if day == 0 else [0, -day])
    t0 = 1_735_689_600 * NS + day * 86400 * NS
    ts = t0 + np.arange(samples, dtype=np.int64) * 60 * NS
    if own_clocks:
        offsets = np.random.default_rng(7).integers(0, 59, (series, 1)) * NS
        return ts[None, :] + offsets, _values(rng, series, samples)
    return np.broadcast_to(ts, (series, samples)).copy(), _values(rng, series, samples)


def _values(rng: np.random.Generator, series: int, samples: int) -> np.ndarray:
    hours = (np.arange(samples) / 60) % 24
    level = rng.uniform(10, 100, (series, 1))
    values = level * (1 + 0.5 * np.sin(np.pi * hours / 24) ** 2) + rng.normal(
        0, 1, (series, samples)
    )
    values[rng.random(values.shape) < 1e-4] *= 3
    return values


def ours(
    ts: np.ndarray, values: np.ndarray, warm_days: int = 0, own_clocks: bool = False
) -> tuple[float, float]:
    """(wall s, CPU s) of scoring all but the first hour with every detector on, after
    `warm_days` days of the same series scored untimed (0: the series' first day, while
    the seasonal profile is still cold; 3: every detector armed, the steady state)."""
    engine = AnomalyEngine()
    keys = [f"site/dev{i // 10}/p{i % 10}" for i in range(values.shape[0])]
    for day in range(-warm_days, 0):
        engine.score(keys, *data(values.shape[0], 1440, day, own_clocks))
    engine.score(keys, ts[:, :60], values[:, :60])  # registration and first touch, untimed
    cpu, start = time.process_time(), time.perf_counter()
    engine.score(keys, ts[:, 60:], values[:, 60:])
    return time.perf_counter() - start, time.process_time() - cpu


def pandas_baseline(ts: np.ndarray, values: np.ndarray, window: int = 60) -> float:
    s, t = values.shape
    df = pd.DataFrame(
        {
            "series": np.repeat(np.arange(s), t),
            "ts": pd.to_datetime(ts.ravel()),
            "value": values.ravel(),
        }
    )
    start = time.perf_counter()
    g = df.groupby("series")["value"]
    med = g.rolling(window, min_periods=10).median().reset_index(level=0, drop=True)
    mad = (df["value"] - med).abs().groupby(df["series"]).rolling(window, min_periods=10).median()
    z_spike = (df["value"] - med).abs() / (1.4826 * mad.reset_index(level=0, drop=True) + 1e-9)
    std = g.rolling(10, min_periods=10).std().reset_index(level=0, drop=True)
    flat = std == 0
    dt = df.groupby("series")["ts"].diff().dt.total_seconds()
    dt_med = dt.groupby(df["series"]).rolling(window, min_periods=5).median()
    gap = dt / dt_med.reset_index(level=0, drop=True)
    hour = df["ts"].dt.hour
    gh = df.groupby([df["series"], hour])["value"]
    z_season = (df["value"] - gh.transform(lambda x: x.expanding().mean().shift())) / (
        gh.transform(lambda x: x.expanding().std().shift()) + 1e-9
    )
    score = np.maximum.reduce(
        [
            z_spike.fillna(0).to_numpy(),
            z_season.abs().fillna(0).to_numpy(),
            gap.fillna(0).to_numpy(),
            flat.to_numpy() * 10.0,
        ]
    )
    assert score.shape[0] == s * t
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=1_440)
    parser.add_argument(
        "--baseline-series",
        type=int,
        default=1_000,
        help="pandas is run on this many series and scaled (points/s)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--warm-days",
        type=int,
        default=0,
        help="days of the same series scored (untimed) before the timed day",
    )
    parser.add_argument(
        "--own-clocks",
        action="store_true",
        help="each series on its own clock (seconds apart), not read in step",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    ts, values = data(args.series, args.samples, own_clocks=args.own_clocks)
    runs = [ours(ts, values, args.warm_days, args.own_clocks) for _ in range(args.repeats)]
    secs = statistics.median(wall for wall, _ in runs)
    cpu_secs = statistics.median(cpu for _, cpu in runs)
    points = args.series * (args.samples - 60)
    ours_pps = points / secs
    nb = min(args.baseline_series, args.series)
    base_secs = pandas_baseline(ts[:nb], values[:nb])
    base_pps = nb * args.samples / base_secs
    state = AnomalyEngine.state_bytes_per_series()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"peakline engine: {points:,} points in {secs:.2f} s = {ours_pps / 1e6:.2f} M points/s "
        f"(median of {len(runs)}; CPU {cpu_secs:.2f} s = {points / cpu_secs / 1e6:.2f} M points/s;"
        f" one core, load average {load:.1f})"
    )
    print(
        f"pandas rolling baseline ({nb} series): {base_secs:.2f} s = {base_pps / 1e6:.3f} M points/s"
    )
    print(f"speed-up: {ours_pps / base_pps:.1f}x; carried state: {state} bytes per series")
    print(
        json.dumps(
            {
                "series": args.series,
                "samples": args.samples,
                "warm_days": args.warm_days,
                "own_clocks": args.own_clocks,
                "points_per_s": round(ours_pps),
                "points_per_cpu_s": round(points / cpu_secs),
                "repeats": len(runs),
                "load_average": round(load, 1),
                "pandas_points_per_s": round(base_pps),
                "pandas_series": nb,
                "speedup": round(ours_pps / base_pps, 1),
                "state_bytes_per_series": state,
            }
        )
    )


if __name__ == "__main__":
    main()
