"""Utility counters of a boiler house, heat connection and data centre (issue 26): each turns
at its rate, colder weather burns more gas, and the counter's increase is the ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from firmware_sim import Scenario, load_profiles, render

REPO = Path(__file__).resolve().parents[3]
T0 = 1736121600 * 10**9  # 2025-01-06 (winter)
H = 3600 * 10**9


@pytest.fixture(scope="module")
def profiles() -> dict:
    return load_profiles(REPO / "config" / "profiles")


def scenario() -> Scenario:
    return Scenario.model_validate(
        {
            "seed": 5,
            "start": "2025-01-06T00:00:00Z",
            "devices": [
                {"id": "gas", "profile": "gas-meter",
                 "physics": {"base_rate_per_h": 5.0, "heating_rate_per_k": 2.0}},
                {"id": "coal", "profile": "coal-weigher", "physics": {"base_rate_per_h": 0.2}},
                {"id": "heat", "profile": "heat-meter", "physics": {"base_rate_per_h": 0.5}},
                {"id": "ups", "profile": "ups-output", "physics": {"base_rate_per_h": 40.0}},
                {"id": "cool", "profile": "cooling-plant",
                 "physics": {"base_rate_per_h": 8.0, "cooling_rate_per_k": 1.0}},
                {"id": "water", "profile": "water-meter", "physics": {"base_rate_per_h": 0.1}},
            ],
        }
    )  # fmt: skip


@pytest.mark.parametrize(
    ("device", "flat_per_h"),
    [("coal", 0.2), ("heat", 0.5), ("ups", 40.0), ("water", 0.1)],
)
def test_flat_counters_turn_at_their_rate(profiles, device, flat_per_h) -> None:
    r = render(scenario(), profiles, T0, T0 + 24 * H, 60)
    _, total = r.series(device, "total")
    assert total[-1] - total[0] == pytest.approx(flat_per_h * 24, rel=0.02)


def test_gas_follows_the_cold_and_equals_the_integral_of_its_rate(profiles) -> None:
    r = render(scenario(), profiles, T0, T0 + 24 * H, 10)
    _, total = r.series("gas", "total")
    _, rate = r.series("gas", "rate_per_h")
    assert np.all(np.diff(total) >= -1e-9)
    assert total[-1] - total[0] > 5.0 * 24  # a January day: heating on top of the base
    integral = np.sum(rate[:-1]) * 10 / 3600
    assert total[-1] - total[0] == pytest.approx(integral, rel=0.01)
