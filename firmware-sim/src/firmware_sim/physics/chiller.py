"""A chilled-water plant (a 1R1C loop model, the HVAC zones' control law), vectorized over plants.

Loop:  C dT/dt = Q_load - Q_cool                                (kW, kWh/K, degC)
Control is proportional on the supply-temperature error, full capacity at 2 K above the
setpoint (`hvac.FULL_OUTPUT_ERROR_K`, as the zone controllers), so raising the chilled-water
setpoint cuts cooling, and electric power (Q / COP + pumps), at the very next step. The return
water is warmer than the supply by the load over the loop's flow (4.186 kJ/kg/K).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware_sim.physics.hvac import FULL_OUTPUT_ERROR_K
from firmware_sim.physics.noise import F64

WATER_KJ_PER_KG_K = 4.186


@dataclass(frozen=True, slots=True)
class ChillerStep:
    """One step of every plant (arrays `[plant]`): degC, kW."""

    supply_c: F64
    return_c: F64
    cooling_kw: F64
    power_kw: F64


def chiller_step(
    supply_c: F64,
    setpoint_c: F64,
    load_kw: F64,
    *,
    capacity_kw: F64,
    loop_mass_kwh_per_k: F64,
    flow_kg_s: F64,
    cop: F64,
    pump_kw: F64,
    running: F64,
    dt_s: float,
) -> ChillerStep:
    """Advance the plants' loops by `dt_s` s from supply temperatures `supply_c` (degC) under a
    building cooling `load_kw` (kW). A plant not `running` (0) cools nothing and draws nothing."""
    on = running > 0.5
    error = supply_c - setpoint_c
    cooling = np.where(on, np.clip(error / FULL_OUTPUT_ERROR_K, 0.0, 1.0) * capacity_kw, 0.0)
    supply = supply_c + (load_kw - cooling) * (dt_s / 3600.0) / loop_mass_kwh_per_k
    ret = supply + np.where(on, load_kw / (flow_kg_s * WATER_KJ_PER_KG_K), 0.0)
    power = np.where(on, cooling / cop + pump_kw, 0.0)
    return ChillerStep(supply, ret, cooling, power)
