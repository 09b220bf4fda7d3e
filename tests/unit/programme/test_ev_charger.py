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


def test_demand_response_plans_the_charger_and_firmware_sim_sheds_it(profiles) -> None:
    """An EV charger is a `power_limit` flexibility: the DR planner writes its current limit,
    the API/edge validation accepts it within the profile's limits, and the simulated charger
    sheds what the plan expects."""
    from peakline_core.config.platform import Site
    from peakline_core.control.planning import plan_event

    cfg = load_config(REPO / "config")
    limits = {("ev", p.name): p.writable for p in cfg.profiles["ev-charger"].points}
    site = Site.model_validate(
        {"id": "depot", "name": "Depot", "city": "c", "district": "d", "floor_area_m2": 1,
         "grid_region": "X",
         "flexibility": [{"device": "ev", "point": "current_limit", "kind": "power_limit",
                          "value": 6, "kw": round(3 * 230 * (32 - 6) / 1000, 2)}]}
    )  # fmt: skip
    plan = plan_event([site], {"depot": 15.0}, {("ev", "current_limit"): 32.0}, limits)
    (action,) = plan.actions
    assert (action.device, action.point, action.value) == ("ev", "current_limit", 6)
    w = World(scenario(), profiles)
    t = T0 + 8 * H
    while (before := w.values_at("ev", t)["power"]) == 0:  # the vehicle arrives 08:00-09:00
        t += 60 * 10**9
        assert t < T0 + 10 * H
    t += 5 * 60 * 10**9  # well inside the session (it needs at least 10 kWh)
    before = w.values_at("ev", t)["power"]
    w.set_controls("ev", {"current_limit": float(action.value)}, t)
    after = w.values_at("ev", t + 120 * 10**9)["power"]
    assert before == pytest.approx(3 * 230 * 32)
    assert (before - after) / 1000 == pytest.approx(action.expected_kw, rel=0.01)
