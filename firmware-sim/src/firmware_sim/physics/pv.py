"""PV inverters (SunSpec): AC power from clear-sky irradiance and clouds, clipped at the
inverter's capacity (or at its active-power limit, SunSpec model 123 WMaxLimPct, while that is
enabled); DC side, temperatures and the SunSpec operating state follow.

Two register layouts serve the same physics: `sunspec-inverter` (models 1 + 103 at 40000,
integers with scale factors) and `sunspec-float-inverter` (models 1, 120, 113, a vendor model
and 123 at 50000); the constants below fill the registers of both."""

from __future__ import annotations

import numpy as np

from firmware_sim.physics.environment import Env
from firmware_sim.physics.fleet import KWH_PER_WS, Chunk, Fleet
from firmware_sim.physics.noise import F64, gauss

PERFORMANCE_RATIO = 0.85
ST_OFF, ST_SLEEPING, ST_STARTING, ST_MPPT, ST_THROTTLED = 1, 2, 3, 4, 5
NOT_IMPLEMENTED = float("nan")  # a float32 register reads NaN, an int16 one 0x8000
VENDOR_MODEL = 64900  # a model no SunSpec definition knows: a scan lists and skips it


def float_layout(cap_kw: float, unit_id: int) -> dict[str, float | str]:
    """Constants of the second layout (models 1, 120, 113, 64900, 123 from 50000)."""
    rated_sf = 1 if cap_kw * 1000.0 > 60000.0 else 0
    return {
        "common_model_length_padded": 66,
        "firmware_version": "2.4.1",
        "device_address": unit_id,
        "common_pad": 0x8000,
        "nameplate_model_id": 120,
        "nameplate_model_length": 26,
        "der_type": 4,  # PV
        "rated_power": cap_kw * 1000.0,
        "rated_power_sf": rated_sf,
        "rated_va": cap_kw * 1000.0,
        "rated_va_sf": rated_sf,
        "rated_current": cap_kw * 1000.0 / (3 * 230.0),
        "rated_current_sf": -1,
        "float_inverter_model_id": 113,
        "float_inverter_model_length": 60,
        "voltage_ab": NOT_IMPLEMENTED,
        "voltage_bc": NOT_IMPLEMENTED,
        "voltage_ca": NOT_IMPLEMENTED,
        "apparent_power": NOT_IMPLEMENTED,
        "transformer_temp": NOT_IMPLEMENTED,
        "other_temp": NOT_IMPLEMENTED,
        "vendor_model_id": VENDOR_MODEL,
        "vendor_model_length": 8,
        "controls_model_id": 123,
        "controls_model_length": 24,
        "connected": 1,
        "limit_pct_sf": -1,
        "pf_setpoint": 1.0,
        "pf_setpoint_sf": -3,
        "pf_enabled": 0,
        "var_pct_sf": NOT_IMPLEMENTED,
    }


class PvFleet(Fleet):
    kind = "pv_inverter"

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        cap = self.param("capacity_kw")
        self.limit_pct = np.full(self.n, 100.0)  # model 123 WMaxLimPct, % of capacity
        self.limit_enabled = np.zeros(self.n)  # model 123 WMaxLim_Ena: 1 enabled
        self.energy["ac_energy"] = 5000.0 + 40000.0 * (self.seeds % 991) / 991.0
        for i, s in enumerate(self.specs):
            big = cap[i] * 1000.0 > 30000.0  # int16 W needs units of 10 W past 32 kW
            self.constants[i].update(
                sunspec_marker=0x53756E53,
                common_model_id=1,
                common_model_length=65,
                manufacturer="peakline-sim",
                model_name=f"PV3P-{int(cap[i])}K",
                serial_number=f"SIM{self.seeds[i] % 10**9:09d}",
                inverter_model_id=103,
                inverter_model_length=50,
                current_sf=-2 if cap[i] < 150 else -1,
                voltage_sf=-1,
                ac_power_sf=1 if big else 0,
                frequency_sf=-2,
                reactive_power_sf=1 if big else 0,
                power_factor_sf=-1,
                energy_sf=0,
                dc_current_sf=-2 if cap[i] < 150 else -1,
                dc_voltage_sf=-1,
                dc_power_sf=1 if big else 0,
                temp_sf=-1,
                vendor_state=0,
                events=0,
                end_model_id=0xFFFF,
                end_model_length=0,
            )
            unit = getattr(s.listen, "unit_id", 1)
            self.constants[i].update(float_layout(float(cap[i]), int(unit)))

    def compute(self, steps: F64, env: Env, deps: dict[str, Chunk]) -> Chunk:
        n, k_count = self.n, steps.shape[0]
        cap_w = self.param("capacity_kw")[:, None] * 1000.0
        limit = np.where(self.limit_enabled > 0, self.limit_pct / 100.0, 1.0)
        max_w = cap_w * limit[:, None]  # the inverter's active-power limit (model 123)
        irr = env.ghi_clear[self.place] * env.cloud[self.place]
        shade = 1.0 + 0.01 * gauss(self.seeds, steps, 31)
        dc_w = cap_w * 1.15 * irr / 1000.0 * PERFORMANCE_RATIO * shade
        ac_w = np.clip(dc_w * 0.97, 0.0, max_w)
        ac_w = np.where(irr > 5.0, ac_w, 0.0)
        state = np.where(
            irr <= 5.0,
            ST_SLEEPING,
            np.where(irr < 30.0, ST_STARTING, np.where(ac_w >= max_w - 1, ST_THROTTLED, ST_MPPT)),
        ).astype(np.float64)
        producing = ac_w > 0
        v_grid = 230.0 + 1.5 * gauss(self.seeds, steps, 32)
        dc_v = np.where(producing, 560.0 + 60.0 * env.cloud[self.place], 0.0)
        chunk = Chunk()
        v = chunk.values
        v["ac_power"] = ac_w
        v["ac_current"] = ac_w / (3 * v_grid)
        for ph, stream in (("a", 33), ("b", 34), ("c", 35)):
            v[f"ac_current_{ph}"] = v["ac_current"] * (1 + 0.005 * gauss(self.seeds, steps, stream))
        v["voltage_an"] = v_grid
        v["voltage_bn"] = v_grid + 0.4 * gauss(self.seeds, steps, 36)
        v["voltage_cn"] = v_grid + 0.4 * gauss(self.seeds, steps, 37)
        v["frequency"] = np.repeat(env.frequency[None, :], n, axis=0)
        v["reactive_power"] = np.zeros((n, k_count))
        v["power_factor"] = np.where(producing, 100.0, 0.0)
        v["dc_power"] = np.where(producing, ac_w / 0.97, 0.0)
        v["dc_voltage"] = dc_v
        v["dc_current"] = np.where(producing, v["dc_power"] / np.maximum(dc_v, 1.0), 0.0)
        load = ac_w / cap_w
        v["cabinet_temp"] = env.t_out[self.place] + 5.0 + 10.0 * load
        v["heatsink_temp"] = env.t_out[self.place] + 5.0 + 25.0 * load
        v["operating_state"] = state
        chunk.true_power_w = ac_w
        self.integrate(chunk, "ac_energy", ac_w * KWH_PER_WS)
        return chunk
