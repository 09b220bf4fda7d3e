"""A grid region's carbon intensity through the day, as signal providers publish it.

The shape of a thermal-heavy grid with growing solar: lowest around noon, when solar output
displaces thermal plant, highest in the evening peak, when demand is high and solar gone;
clouds (its place's) take part of the noon dip away, and slow noise stands for the
dispatch of the day. Over whole days it averages to within a few per cent of the signal's
mean (tests/unit/firmware_sim/test_grid_signal.py), so the hourly location-based emissions
it drives stay near the annual factor's.
"""

from __future__ import annotations

import numpy as np

from firmware_sim.physics.environment import Environment
from firmware_sim.physics.noise import F64, smooth
from firmware_sim.scenario import GridSignal, Scenario

EVENING = 0.08  # share above the mean at the evening peak (19:00 local)
SOLAR = 0.20  # share below the mean a clear noon takes away
SOLAR_MEAN = 0.21  # the day's mean of the solar term (sine over 06-18 h times the cloud factor)
NOISE = 0.025


def intensity(signal: GridSignal, scenario: Scenario, env: Environment, t_s: F64, seed: int) -> F64:
    """g CO2e/kWh at UTC seconds `t_s` [K]."""
    row = scenario.place_index(signal.place)
    place = scenario.all_places()[row]
    offset = place.utc_offset_h if signal.utc_offset_h is None else signal.utc_offset_h
    hour = ((t_s / 3600.0) + offset) % 24.0
    evening = np.cos(2.0 * np.pi * (hour - 19.0) / 24.0)
    daylight = np.clip(np.sin(np.pi * (hour - 6.0) / 12.0), 0.0, None)
    cloud = env.at(t_s).cloud[row]
    noise = smooth(np.array([seed]), t_s, 3 * 3600.0, 71)[0]
    shape = 1.0 + EVENING * evening - SOLAR * (daylight * cloud - SOLAR_MEAN) + NOISE * noise
    out: F64 = signal.mean_g_per_kwh * shape
    return out


def signal_seed(scenario: Scenario, index: int) -> int:
    """One noise stream per signal, from the scenario seed and the signal's position."""
    return scenario.seed * 1000003 + 104729 * (index + 1)
