"""firmware-sim's grid signal and per-building clocks: physically shaped, and on the right clock."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_sim.physics.environment import Environment, occupancy
from firmware_sim.physics.grid import intensity
from firmware_sim.scenario import Scenario

DAY = 86_400.0


def scenario(cloudiness: float, start: str, offset_h: float | None = None) -> Scenario:
    signal = {"region": "CN-EAST", "mean_g_per_kwh": 550}
    if offset_h is not None:
        signal["utc_offset_h"] = offset_h
    return Scenario.model_validate(
        {"seed": 3, "start": start, "cloudiness": cloudiness, "grid_signals": [signal]}
    )


@pytest.mark.parametrize("cloudiness", [0.0, 0.4, 0.8])
@pytest.mark.parametrize("start", ["2025-01-06T00:00:00Z", "2025-07-07T00:00:00Z"])
def test_the_signal_averages_near_its_mean_dips_at_noon_and_peaks_in_the_evening(
    cloudiness: float, start: str
) -> None:
    sc = scenario(cloudiness, start)
    t = sc.start.timestamp() + np.arange(0.0, 14 * DAY, 300.0)
    g = intensity(sc.grid_signals[0], sc, Environment(sc), t, seed=11)
    hour = (t / 3600.0 + 8.0) % 24.0
    assert abs(g.mean() / 550.0 - 1.0) < 0.04  # hourly emissions stay near the annual factor's
    noon, evening = g[(hour > 11) & (hour < 13)].mean(), g[(hour > 18) & (hour < 20)].mean()
    assert noon < g.mean() < evening
    assert g.min() > 0.6 * 550 and g.max() < 1.3 * 550  # no physically absurd swings


def test_a_region_keeps_its_own_clock() -> None:
    sc = scenario(0.4, "2025-01-06T00:00:00Z", offset_h=-5.0)
    t = sc.start.timestamp() + np.arange(0.0, 7 * DAY, 300.0)
    g = intensity(sc.grid_signals[0], sc, Environment(sc), t, seed=11)
    local = (t / 3600.0 - 5.0) % 24.0
    assert g[(local > 18) & (local < 20)].mean() > g[(local > 11) & (local < 13)].mean()


def test_a_building_on_another_clock_is_occupied_in_its_own_day() -> None:
    sc = scenario(0.4, "2025-01-07T00:00:00Z")  # a Tuesday
    env = Environment(sc).at(sc.start.timestamp() + np.arange(0.0, DAY, 600.0))
    one = np.array([1.0])
    shanghai = occupancy(env, one * 8, one * 18, one * 0.3)[0]
    new_york = occupancy(env, one * 8, one * 18, one * 0.3, np.array([-5.0]))[0]
    utc_hour = (env.t_s / 3600.0) % 24.0
    at_14_utc = np.argmin(np.abs(utc_hour - 14.0))  # 22:00 in Shanghai, 09:00 in New York
    assert shanghai[at_14_utc] < 0.05 and new_york[at_14_utc] > 0.9
