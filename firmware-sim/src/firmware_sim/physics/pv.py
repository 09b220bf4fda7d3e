"""PV inverters (SunSpec model 103): AC power from clear-sky irradiance and clouds, clipped at
the inverter's capacity; DC side, temperatures and the SunSpec operating state follow."""

from __future__ import annotations

import numpy as np

from firmware_sim.physics.environment import Env
from firmware_sim.physics.fleet import KWH_PER_WS, Chunk, Fleet
from firmware_sim.physics.noise import F64, gauss

PERFORMANCE_RATIO = 0.85
ST_OFF, ST_SLEEPING, ST_STARTING, ST_MPPT, ST_THROTTLED = 1, 2, 3, 4, 5


class PvFleet(Fleet):
    kind = "pv_inverter"

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        cap = self.param("capacity_kw")
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
            del s

    def compute(self, steps: F64, env: Env, deps: dict[str, Chunk]) -> Chunk:
        n, k_count = self.n, steps.shape[0]
        cap_w = self.param("capacity_kw")[:, None] * 1000.0
        irr = env.ghi_clear[self.place] * env.cloud[self.place]
        shade = 1.0 + 0.01 * gauss(self.seeds, steps, 31)
        dc_w = cap_w * 1.15 * irr / 1000.0 * PERFORMANCE_RATIO * shade
        ac_w = np.clip(dc_w * 0.97, 0.0, cap_w)
        ac_w = np.where(irr > 5.0, ac_w, 0.0)
        state = np.where(
            irr <= 5.0,
            ST_SLEEPING,
            np.where(irr < 30.0, ST_STARTING, np.where(ac_w >= cap_w - 1, ST_THROTTLED, ST_MPPT)),
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
