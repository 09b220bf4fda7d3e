"""Synthetic series for the anomaly tests: clean seasonal building loads and injected faults."""

from __future__ import annotations

import numpy as np

NS = 1_000_000_000
START_NS = 1_704_067_200 * NS  # 2024-01-01 00:00 UTC, a Monday


def timestamps(days: float, step_s: float, start_ns: int = START_NS) -> np.ndarray:
    """Regular UTC ns timestamps."""
    n = int(days * 86400 / step_s)
    return start_ns + (np.arange(n) * step_s * NS).astype(np.int64)


def building_load(ts: np.ndarray, series: int, rng: np.random.Generator) -> np.ndarray:
    """Office-like electric load (kW): night base, weekday working-hours plateau with ramps,
    small weekend load, AR(1) weather-like wander and measurement noise; [series, time]."""
    hours = (ts // (3600 * NS)) % 24 + (ts % (3600 * NS)) / (3600 * NS)
    weekday = ((ts // (86400 * NS)) + 3) % 7 < 5
    base = rng.uniform(20, 200, (series, 1))
    day = base * rng.uniform(1.5, 3.0, (series, 1))
    shape = 1 / (1 + np.exp(-(hours - 7.5) * 2)) * 1 / (1 + np.exp((hours - 18.5) * 2))
    load = base + (day - base) * shape * np.where(weekday, 1.0, 0.15)
    wander = np.zeros((series, ts.size))
    shocks = rng.normal(0, 0.01, (series, ts.size))
    for t in range(1, ts.size):  # AR(1), phi 0.99: slow day-to-day variation
        wander[:, t] = 0.99 * wander[:, t - 1] + shocks[:, t]
    return load * (1 + wander) + rng.normal(0, 0.02, (series, ts.size)) * base


def temperature(ts: np.ndarray, series: int, rng: np.random.Generator) -> np.ndarray:
    """Room temperature (degC) quantized to 0.1: daily cycle plus noise; [series, time]."""
    hours = (ts // (3600 * NS)) % 24 + (ts % (3600 * NS)) / (3600 * NS)
    temp = 21 + 1.5 * np.sin(2 * np.pi * (hours - 9) / 24) + rng.normal(0, 0.15, (series, ts.size))
    return np.round(temp, 1)
