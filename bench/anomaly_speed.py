"""Anomaly scoring throughput: 10,000 series x 1,440 one-minute samples, all detectors on,
against a straightforward pandas rolling implementation measured in the same run.

    uv run --frozen python bench/anomaly_speed.py [--series 10000] [--samples 1440]

The pandas baseline computes what a data scientist would write per series in a long table:
rolling median and MAD z-score (spikes), rolling std == 0 (flatline), interval vs rolling
median interval (gaps), and per-hour-of-day mean/std over the rows so far (seasonal), with
`groupby(series).rolling(...)`. It is batch-only and far from causal-streaming equivalent,
but it is the obvious thing to compare to. JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from peakline_core.anomaly import AnomalyEngine

NS = 1_000_000_000


def data(series: int, samples: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    t0 = 1_735_689_600 * NS
    ts = t0 + np.arange(samples, dtype=np.int64) * 60 * NS
    hours = (np.arange(samples) / 60) % 24
    level = rng.uniform(10, 100, (series, 1))
    values = level * (1 + 0.5 * np.sin(np.pi * hours / 24) ** 2) + rng.normal(
        0, 1, (series, samples)
    )
    values[rng.random(values.shape) < 1e-4] *= 3
    return np.broadcast_to(ts, values.shape).copy(), values


def ours(ts: np.ndarray, values: np.ndarray) -> float:
    engine = AnomalyEngine()
    keys = [f"site/dev{i // 10}/p{i % 10}" for i in range(values.shape[0])]
    engine.score(keys, ts[:, :60], values[:, :60])  # registration and first touch, untimed
    start = time.perf_counter()
    engine.score(keys, ts[:, 60:], values[:, 60:])
    return time.perf_counter() - start


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
    args = parser.parse_args()
    ts, values = data(args.series, args.samples)
    secs = ours(ts, values)
    points = args.series * (args.samples - 60)
    ours_pps = points / secs
    nb = min(args.baseline_series, args.series)
    base_secs = pandas_baseline(ts[:nb], values[:nb])
    base_pps = nb * args.samples / base_secs
    state = AnomalyEngine.state_bytes_per_series()
    print(f"peakline engine: {points:,} points in {secs:.2f} s = {ours_pps / 1e6:.2f} M points/s")
    print(
        f"pandas rolling baseline ({nb} series): {base_secs:.2f} s = {base_pps / 1e6:.3f} M points/s"
    )
    print(f"speed-up: {ours_pps / base_pps:.1f}x; carried state: {state} bytes per series")
    print(
        json.dumps(
            {
                "series": args.series,
                "samples": args.samples,
                "points_per_s": round(ours_pps),
                "pandas_points_per_s": round(base_pps),
                "pandas_series": nb,
                "speedup": round(ours_pps / base_pps, 1),
                "state_bytes_per_series": state,
            }
        )
    )


if __name__ == "__main__":
    main()
