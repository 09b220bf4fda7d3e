"""Carbon-aware charging: the same energy in the cleanest available slots, and the simulated
charger delivers it when its current limit follows the plan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_sim import Scenario, load_profiles
from firmware_sim.world import World
from peakline_core.programme import carbon_aware_plan, emissions_kg

REPO = Path(__file__).resolve().parents[3]
T0 = 1736121600 * 10**9  # Monday 00:00 UTC
H = 3600 * 10**9


@given(
    st.lists(st.floats(0, 60), min_size=1, max_size=4),
    st.lists(st.floats(50, 900), min_size=4, max_size=24),
)
def test_plan_delivers_the_need_within_limits_and_never_emits_more(needs, intensity) -> None:
    t = len(intensity)
    need = np.array(needs)
    max_kw = np.full(len(needs), 11.0)
    avail = np.ones((len(needs), t), dtype=bool)
    avail[:, : t // 4] = False
    plan = carbon_aware_plan(need, max_kw, avail, np.array(intensity), 1.0)
    assert (plan >= 0).all() and (plan <= 11.0 + 1e-9).all() and (plan[~avail] == 0).all()
    deliverable = np.minimum(need, 11.0 * avail.sum(axis=1))
    assert plan.sum(axis=1) == pytest.approx(deliverable)
    # Charging as soon as possible delivers the same energy with at least as much CO2e.
    asap = np.zeros_like(plan)
    for s in range(len(needs)):
        left = deliverable[s]
        for j in np.flatnonzero(avail[s]):
            asap[s, j] = min(11.0, left)
            left -= asap[s, j]
    cleaner = emissions_kg(plan, np.array(intensity), 1.0)
    assert (cleaner <= emissions_kg(asap, np.array(intensity), 1.0) + 1e-6).all()


def test_simulated_charger_follows_the_plan() -> None:
    sc = Scenario.model_validate(
        {"seed": 4, "start": "2025-01-06T00:00:00Z", "utc_offset_h": 0, "physics_step_s": 60,
         "devices": [{"id": "ev", "profile": "ev-charger",
                      "physics": {"open_hour": 8, "close_hour": 18}}]}
    )  # fmt: skip
    w = World(sc, load_profiles(REPO / "config" / "profiles"))
    # Intensity falls through the day (solar): the cleanest hours are the afternoon.
    intensity = np.array([600.0 - 30 * h for h in range(10, 18)])
    hours = np.arange(10, 18)
    w.set_controls("ev", {"current_limit": 0.0}, T0 + 7 * H)  # hold until the plan says
    full_kw = 3 * 230 * 32 / 1000
    plan = carbon_aware_plan(np.array([20.0]), np.array([full_kw]),
                             np.ones((1, hours.size), dtype=bool), intensity, 1.0)[0]  # fmt: skip
    assert plan[:4].sum() == 0 and plan.sum() == pytest.approx(20.0)
    start_energy = w.values_at("ev", T0 + 10 * H)["energy"]
    for h, kw in zip(hours, plan, strict=True):
        w.set_controls("ev", {"current_limit": kw * 1000 / (3 * 230)}, T0 + int(h) * H)
        if h == 14:
            assert w.values_at("ev", T0 + 14 * H)["energy"] == pytest.approx(start_energy)
        w.values_at("ev", T0 + int(h) * H + 60 * 10**9)
    end = w.values_at("ev", T0 + 18 * H - 10**9)
    # The vehicle (seed 4 needs more than 20 kWh) got the planned 20 kWh, all after 14:00.
    assert end["energy"] - start_energy == pytest.approx(20.0, rel=0.02)
    assert end["session_energy"] <= 20.0 + 1e-6  # value at the step start: one step behind
