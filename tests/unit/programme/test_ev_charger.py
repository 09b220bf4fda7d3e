"""The EV charger device type in firmware-sim: charges a vehicle on working days at the current
limit, and a lower written limit defers the energy (same kWh by departure, later)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from firmware_sim import Scenario, load_profiles, render
from firmware_sim.world import World
from peakline_core.config import load_config

REPO = Path(__file__).resolve().parents[3]
T0 = 1736121600 * 10**9  # 2025-01-06T00:00Z, a Monday
H = 3600 * 10**9


@pytest.fixture(scope="module")
def profiles() -> dict:
    return load_profiles(REPO / "config" / "profiles")


def scenario() -> Scenario:
    return Scenario.model_validate(
        {"seed": 4, "start": "2025-01-06T00:00:00Z", "utc_offset_h": 0, "physics_step_s": 60,
         "devices": [{"id": "ev", "profile": "ev-charger",
                      "physics": {"max_current_a": 32, "open_hour": 8, "close_hour": 18}}]}
    )  # fmt: skip


def test_profile_loads_with_the_example_config() -> None:
    cfg = load_config(REPO / "config")
    point = {p.name: p for p in cfg.profiles["ev-charger"].points}["current_limit"]
    assert point.writable is not None and point.writable.max == 32


def test_charges_on_working_days_only(profiles) -> None:
    r = render(scenario(), profiles, T0, T0 + 7 * 24 * H, 300)
    power = r.values[("ev", "power")].reshape(7, -1)
    status = r.values[("ev", "status")].reshape(7, -1)
    assert power[:5].max(axis=1).tolist() == pytest.approx([3 * 230 * 32] * 5)  # 22 kW
    assert power[5:].max() == 0 and status[5:].max() == 0
    night = slice(0, 8 * 12)
    assert power[:, night].max() == 0
    session = r.values[("ev", "session_energy")].reshape(7, -1)
    assert ((session[:5].max(axis=1) >= 10) & (session[:5].max(axis=1) <= 40.01)).all()


def _day(limit_a: float | None, profiles: dict) -> tuple[np.ndarray, float]:
    w = World(scenario(), profiles)
    if limit_a is not None:
        w.set_controls("ev", {"current_limit": limit_a}, T0)
    powers = []
    for minute in range(0, 24 * 60, 5):
        powers.append(w.values_at("ev", T0 + minute * 60 * 10**9)["power"])
    return np.array(powers), w.values_at("ev", T0 + 24 * H - 10**9)["energy"]


def test_lower_limit_defers_the_same_energy(profiles) -> None:
    full, e_full = _day(None, profiles)
    capped, e_capped = _day(10.0, profiles)
    assert capped.max() == pytest.approx(3 * 230 * 10)
    # Same energy delivered before departure, but later in the day.
    assert e_capped == pytest.approx(e_full, rel=1e-6)
    charged_full = np.flatnonzero(full > 0)
    charged_capped = np.flatnonzero(capped > 0)
    assert charged_capped[-1] > charged_full[-1]
    assert World(scenario(), profiles).controls("ev") == {"current_limit": 32.0}
