"""A value pinned at the edge of a series' range (a heater at its rated maximum, a plant off
at 0 W) is a state, not a frozen sensor; a value stuck inside the range still is one."""

from __future__ import annotations

import numpy as np

from peakline_core.anomaly import AnomalyEngine
from tests.unit.anomaly.anomaly_synth import NS, START_NS, timestamps

STEP_S = 300.0
HOUR_NS = 3600 * NS
RATED_W = 150_000.0


def heater(ts: np.ndarray, rng: np.random.Generator, pinned_days: set[int]) -> np.ndarray:
    """Heating power (W): off (0) in the afternoon and evening, modulating with noise in the
    morning, and on `pinned_days` held at its rated maximum from 00:00 to 06:00 (a cold
    night); 10 W register steps."""
    hours = (ts - START_NS) % (24 * HOUR_NS) / HOUR_NS
    days = (ts - START_NS) // (24 * HOUR_NS)
    modulating = 60_000.0 + 30_000.0 * np.sin(hours) + rng.normal(0, 4_000.0, ts.size)
    power = np.where(hours < 12.0, modulating, 0.0)
    cold = np.isin(days, list(pinned_days)) & (hours < 6.0)
    power = np.where(cold, RATED_W, np.clip(power, 0.0, RATED_W))
    return np.round(power / 10.0) * 10.0


def events(values: np.ndarray, ts: np.ndarray) -> list[tuple[str, int]]:
    batch = AnomalyEngine().score(["heater"], ts[None, :].copy(), values[None, :])
    return [(e.kind, e.start_ns) for e in batch.events]


def test_a_heater_at_its_rated_maximum_all_night_is_not_a_flatline() -> None:
    ts = timestamps(12, STEP_S)
    values = heater(ts, np.random.default_rng(41), pinned_days={1, 5, 9, 10})
    # on the first cold night the value is new; on later ones pinned in hours it modulated
    assert [k for k, _ in events(values, ts) if k == "flatline"] == []


def test_off_at_0_w_in_an_hour_it_usually_runs_is_not_a_flatline() -> None:
    ts = timestamps(12, STEP_S)
    values = heater(ts, np.random.default_rng(42), pinned_days=set())
    hours = (ts - START_NS) % (24 * HOUR_NS) / HOUR_NS
    off = ((ts - START_NS) // (24 * HOUR_NS) == 10) & (hours < 12.0)
    values[off] = 0.0  # the whole morning off (the building closed)
    assert [k for k, _ in events(values, ts) if k == "flatline"] == []


def test_a_reading_stuck_inside_its_range_is_still_a_flatline() -> None:
    ts = timestamps(12, STEP_S)
    values = heater(ts, np.random.default_rng(43), pinned_days={1, 5})
    at = int(np.searchsorted(ts, START_NS + 10 * 24 * HOUR_NS + 3 * HOUR_NS))
    values[at : at + 48] = values[at]  # 4 hours stuck while modulating
    assert 0.0 < values[at] < RATED_W
    assert ("flatline", int(ts[at])) in events(values, ts)
