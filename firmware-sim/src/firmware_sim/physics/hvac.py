"""HVAC zone controllers (a 1R1C thermal model per zone) and the air sensors in those zones.

Zone:  C dT/dt = UA (T_out - T) + Q_internal + Q_heat - Q_cool       (kW, kWh/K, degC)
Control is proportional on the setpoint error (full capacity at 2 K), so lowering a heating
setpoint (or raising a cooling one) cuts thermal output, and electric power
(Q / COP + fan), at the very next physics step.
The unit runs when its BMS enable coil (`running`) is on and the schedule says the building is
occupied (one hour of pre-conditioning before opening), or when an hvac_waste fault forces it.
"""

from __future__ import annotations

import numpy as np

from firmware_sim.physics.environment import Env, occupancy
from firmware_sim.physics.fleet import KWH_PER_WS, Chunk, Fleet
from firmware_sim.physics.noise import F64, gauss, smooth

FULL_OUTPUT_ERROR_K = 2.0
AUTO_DEADBAND_K = 0.5
W_PER_PERSON = 100.0


class HvacFleet(Fleet):
    kind = "hvac"

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.setpoint = self.param("setpoint_c")
        self.mode = self.param("mode")
        self.running = np.ones(self.n)
        init = [
            s.physics.initial_temp_c if s.physics.initial_temp_c is not None else 17.0
            for s in self.specs
        ]
        self.temp = np.array(init, dtype=np.float64)
        self.energy["energy"] = 2000.0 + 30000.0 * (self.seeds % 997) / 997.0
        # Set by the world from faults: [n, K] masks for the chunk being computed.
        self.waste: F64 | None = None
        self.down: F64 | None = None

    def defaults(self, row: int) -> None:
        """What a reboot restores: setpoint and mode from the physics params, enabled."""
        self.setpoint[row] = self.param("setpoint_c")[row]
        self.mode[row] = self.param("mode")[row]
        self.running[row] = 1.0

    def compute(self, steps: F64, env: Env, deps: dict[str, Chunk]) -> Chunk:
        n, k_count = self.n, steps.shape[0]
        occ = occupancy(
            env,
            self.param("open_hour"),
            self.param("close_hour"),
            self.param("weekend_factor"),
            place=self.place,
        )
        people = np.round(occ * self.param("occupants")[:, None])
        sched = occupancy(
            env,
            self.param("open_hour") - 1.0,
            self.param("close_hour"),
            np.where(self.param("weekend_factor") > 0.5, 1.0, 0.0),
            place=self.place,
        )
        scheduled = sched > 0.5
        waste = self.waste if self.waste is not None else np.zeros((n, k_count))
        down = self.down if self.down is not None else np.zeros((n, k_count))
        on = ((self.running[:, None] > 0.5) & scheduled) | (waste > 0.5)
        on &= down < 0.5
        ua = self.param("ua_kw_per_k")[:, None] * self.retrofit_factor(env)
        cap = self.param("capacity_kw")
        mass = self.param("thermal_mass_kwh_per_k")
        gain = 1.0 / FULL_OUTPUT_ERROR_K
        t_out = env.t_out[self.place] + 0.3 * smooth(self.seeds, env.t_s, 3600.0, 11)
        q_int = people * W_PER_PERSON / 1000.0 + 0.05 * cap[:, None]
        temp = np.empty((n, k_count))
        heat = np.empty((n, k_count))
        cool = np.empty((n, k_count))
        heat_mode = self.mode == 1
        cool_mode = self.mode == 2
        auto = ~(heat_mode | cool_mode)
        band = np.where(auto, AUTO_DEADBAND_K, 0.0)
        t = self.temp
        hours = self.dt_s / 3600.0
        for j in range(k_count):
            temp[:, j] = t
            err = self.setpoint - t
            qh = np.clip(gain * (err - band), 0.0, 1.0) * cap
            qc = np.clip(gain * (-err - band), 0.0, 1.0) * cap
            qh = np.where(on[:, j] & ~cool_mode, qh, 0.0)
            qc = np.where(on[:, j] & ~heat_mode, qc, 0.0)
            heat[:, j], cool[:, j] = qh, qc
            dq = ua[:, j] * (t_out[:, j] - t) + q_int[:, j] + qh - qc
            t = t + dq * hours / mass
        self.temp = t
        fan = np.where(on, self.param("fan_kw")[:, None], 0.0)
        cop = self.param("cop")[:, None]
        power_kw = heat / cop + cool / (cop * 1.1) + fan + 0.02
        power_w = power_kw * 1000.0 * (1.0 + 0.01 * gauss(self.seeds, steps, 12))
        chunk = Chunk()
        v = chunk.values
        v["zone_temp"] = temp
        v["power"] = power_w
        v["outdoor_temp"] = t_out
        v["occupancy"] = people
        v["heating_power"] = heat * 1000.0
        v["cooling_power"] = cool * 1000.0
        flow = np.where(on, 1.0, 0.0)
        v["supply_temp"] = temp + flow * 15.0 * (heat - cool) / cap[:, None]
        v["setpoint"] = np.repeat(self.setpoint[:, None], k_count, axis=1)
        v["mode"] = np.repeat(self.mode[:, None], k_count, axis=1)
        v["running"] = np.repeat(self.running[:, None], k_count, axis=1)
        v["occupied"] = (people > 0).astype(np.float64)
        v["alarm"] = np.zeros((n, k_count))
        chunk.true_power_w = power_w
        self.integrate(chunk, "energy", power_w * KWH_PER_WS)
        return chunk


class AirFleet(Fleet):
    """MQTT air-quality sensors (one room each): temperature from their zone (an HVAC id) when
    linked, CO2 from a well-mixed room model (first order, ~40 min), PM2.5 with rush hours."""

    kind = "air_quality"

    def __init__(self, *args: object, zone_index: list[int], **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.zone = np.array(zone_index, dtype=np.intp)
        self.co2 = np.full(self.n, 450.0)

    def compute(self, steps: F64, env: Env, deps: dict[str, Chunk]) -> Chunk:
        n, k_count = self.n, steps.shape[0]
        own_occ = occupancy(
            env,
            self.param("open_hour"),
            self.param("close_hour"),
            self.param("weekend_factor"),
            place=self.place,
        )
        people = np.round(own_occ * self.param("occupants")[:, None])
        temp = 20.0 + 1.5 * own_occ + 0.4 * smooth(self.seeds, env.t_s, 5400.0, 21)
        hvac = deps.get("hvac")
        linked = self.zone >= 0
        if hvac is not None and linked.any():
            zi = self.zone[linked]
            temp[linked] = hvac.values["zone_temp"][zi] + 0.3
        temp = temp + 0.05 * gauss(self.seeds, steps, 22)
        # CO2: 20 L/h of CO2 per person into a room ventilated at 1.5 air changes per hour.
        vol = self.param("volume_m3")[:, None]
        ach = 3.0
        steady = 420.0 + people * 0.02 * 1e6 / (ach * vol)
        alpha = 1.0 - np.exp(-ach * self.dt_s / 3600.0)
        co2 = np.empty((n, k_count))
        c = self.co2
        for j in range(k_count):
            co2[:, j] = c
            c = c + alpha * (steady[:, j] - c)
        self.co2 = c
        h = env.hour[self.place]
        rush = np.exp(-((h - 8.0) ** 2) / 2.0) + np.exp(-((h - 18.0) ** 2) / 2.0)
        pm = 6.0 + 10.0 * rush + 3.0 * np.abs(smooth(self.seeds, env.t_s, 7200.0, 23))
        chunk = Chunk()
        v = chunk.values
        v["temperature"] = temp
        v["co2"] = co2 + 5.0 * gauss(self.seeds, steps, 24)
        v["pm25"] = pm + 0.5 * gauss(self.seeds, steps, 25)
        v["occupancy"] = people
        v["humidity"] = 40.0 + 8.0 * smooth(self.seeds, env.t_s, 10800.0, 26)
        days = (env.t_s - self.scenario.start.timestamp()) / 86400.0
        v["battery"] = np.repeat(np.clip(100.0 - 0.05 * days, 0, 100)[None, :], n, axis=0)
        return chunk
