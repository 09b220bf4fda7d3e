"""The chilled-water loop of firmware-sim's BACnet chiller plant: known answers of its 1R1C
model and proportional control (the HVAC zones' law, full output at 2 K)."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_sim.physics.chiller import WATER_KJ_PER_KG_K, chiller_step


def _run(setpoint: float, steps: int, supply: float = 7.0, running: float = 1.0):  # type: ignore[no-untyped-def]
    one = np.ones(1)
    s = np.array([supply])
    for _ in range(steps):
        out = chiller_step(
            s, np.array([setpoint]), np.array([300.0]), capacity_kw=one * 600,
            loop_mass_kwh_per_k=one * 5, flow_kg_s=one * 25, cop=one * 5, pump_kw=one * 15,
            running=one * running, dt_s=60.0,
        )  # fmt: skip
        s = out.supply_c
    return out


def test_one_step_by_hand() -> None:
    # 8 degC supply, setpoint 7: error 1 K -> half of 600 kW; load 300 kW: the loop holds
    out = _run(7.0, 1, supply=8.0)
    assert out.cooling_kw[0] == pytest.approx(300.0)
    assert out.supply_c[0] == pytest.approx(8.0)
    assert out.return_c[0] == pytest.approx(8.0 + 300.0 / (25 * WATER_KJ_PER_KG_K))
    assert out.power_kw[0] == pytest.approx(300.0 / 5 + 15)


def test_settles_one_kelvin_above_setpoint_at_half_load() -> None:
    out = _run(7.0, 600)
    assert out.supply_c[0] == pytest.approx(8.0, abs=1e-3)  # proportional offset: load/cap * 2 K
    assert out.cooling_kw[0] == pytest.approx(300.0, rel=1e-3)


def test_a_raised_setpoint_cuts_power_at_the_next_step() -> None:
    settled = _run(7.0, 600)
    raised = chiller_step(
        settled.supply_c, np.array([8.5]), np.array([300.0]), capacity_kw=np.array([600.0]),
        loop_mass_kwh_per_k=np.array([5.0]), flow_kg_s=np.array([25.0]), cop=np.array([5.0]),
        pump_kw=np.array([15.0]), running=np.array([1.0]), dt_s=60.0,
    )  # fmt: skip
    assert raised.power_kw[0] < settled.power_kw[0] - 50


def test_a_stopped_plant_draws_nothing_and_warms() -> None:
    out = _run(7.0, 10, running=0.0)
    assert out.power_kw[0] == 0.0 and out.cooling_kw[0] == 0.0
    assert out.supply_c[0] == pytest.approx(7.0 + 300 * (10 * 60 / 3600) / 5)
