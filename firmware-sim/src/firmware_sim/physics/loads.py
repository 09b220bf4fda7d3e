"""Building meters (three-phase, SDM630-like) and feeder meters aggregating buildings.

Building load = base + (peak - base) * occupancy (daily and weekly shape) + weather-driven
heating, plus the HVAC units and EV chargers behind the meter, minus the PV behind it (export
when negative).
"""

from __future__ import annotations

import numpy as np

from firmware_sim.physics.environment import Env, occupancy
from firmware_sim.physics.fleet import KWH_PER_WS, Chunk, Fleet
from firmware_sim.physics.noise import F64, gauss, smooth, uniform

HEATING_SHARE = 0.25  # of peak, at 16 K below the heating balance point


class _ThreePhase(Fleet):
    """Shared three-phase point derivation from net power, power factor and voltage."""

    nominal_v = 230.0
    line_to_line = False

    def phases(self, chunk: Chunk, p: F64, pf: F64, steps: F64, env: Env) -> None:
        n, k_count = p.shape
        u = uniform(self.seeds, np.arange(3), 41)
        share = (1.0 / 3.0 + 0.05 * (u - 0.5)) / (1.0 / 3.0 + 0.05 * (u - 0.5)).sum(
            axis=1, keepdims=True
        )
        q = np.abs(p) * np.tan(np.arccos(pf))
        v = chunk.values
        s_total = np.zeros_like(p)
        i_total = np.zeros_like(p)
        v_total = np.zeros_like(p)
        for ph in range(3):
            volts = self.nominal_v * (
                1.0
                + 0.008 * smooth(self.seeds, env.t_s, 900.0, 42 + ph)
                + 0.0015 * gauss(self.seeds, steps, 45 + ph)
            )
            p_l, q_l = p * share[:, ph : ph + 1], q * share[:, ph : ph + 1]
            s_l = np.hypot(p_l, q_l)
            per_phase_v = volts / np.sqrt(3.0) if self.line_to_line else volts
            amps = s_l / per_phase_v
            name = f"l{ph + 1}"
            v[f"voltage_{name}"] = volts
            v[f"current_{name}"] = amps
            v[f"power_{name}"] = p_l
            v[f"apparent_power_{name}"] = s_l
            v[f"reactive_power_{name}"] = q_l
            v[f"power_factor_{name}"] = np.where(s_l > 0, p_l / np.maximum(s_l, 1e-9), 1.0)
            s_total += s_l
            i_total += amps
            v_total += volts
        v["power_total"] = p
        v["apparent_power_total"] = s_total
        v["reactive_power_total"] = q
        v["power_factor_total"] = np.where(s_total > 0, p / np.maximum(s_total, 1e-9), 1.0)
        v["voltage_avg"] = v_total / 3.0
        v["current_sum"] = i_total
        v["frequency"] = np.repeat(env.frequency[None, :], n, axis=0)
        self.integrate(chunk, "import_energy", np.maximum(p, 0.0) * KWH_PER_WS)
        self.integrate(chunk, "export_energy", np.maximum(-p, 0.0) * KWH_PER_WS)
        self.integrate(chunk, "import_reactive_energy", q * KWH_PER_WS)
        self.integrate(chunk, "export_reactive_energy", np.zeros_like(q))
        del k_count

    def start_counters(self, scale_kwh: float) -> None:
        u = (self.seeds % 983) / 983.0
        self.energy["import_energy"] = scale_kwh * (0.2 + 0.8 * u)
        self.energy["export_energy"] = scale_kwh * 0.01 * u
        self.energy["import_reactive_energy"] = scale_kwh * 0.25 * u
        self.energy["export_reactive_energy"] = np.zeros(self.n)


class MeterFleet(_ThreePhase):
    kind = "meter"

    def __init__(
        self,
        *args: object,
        hvac_matrix: F64,
        pv_matrix: F64,
        ev_matrix: F64 | None = None,
        **kw: object,
    ) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.hvac_matrix = hvac_matrix  # [n_meter, n_hvac] 1 where the HVAC is behind the meter
        self.pv_matrix = pv_matrix  # [n_meter, n_pv]
        self.ev_matrix = np.zeros((self.n, 0)) if ev_matrix is None else ev_matrix  # [n, n_ev]
        self.theft: F64 | None = None  # [n, K] fraction bypassed, set by the world from faults
        own = [s.physics.utc_offset_h for s in self.specs]
        places = self.scenario.all_places()
        self.offsets: F64 | None = (
            None
            if all(o is None for o in own)
            else np.array(
                [
                    places[i].utc_offset_h if o is None else o
                    for o, i in zip(own, self.place, strict=True)
                ],
                dtype=np.float64,
            )
        )
        self.start_counters(100000.0)

    def compute(self, steps: F64, env: Env, deps: dict[str, Chunk]) -> Chunk:
        occ = occupancy(
            env,
            self.param("open_hour"),
            self.param("close_hour"),
            self.param("weekend_factor"),
            self.offsets,
            self.place,
        )
        base, peak = self.param("base_kw")[:, None], self.param("peak_kw")[:, None]
        heating = (
            HEATING_SHARE
            * peak
            * np.clip((16.0 - env.t_out[self.place]) / 16.0, 0.0, 1.0)
            * (0.3 + 0.7 * occ)
            * self.retrofit_factor(env)
        )
        wiggle = (
            1.0
            + 0.03 * gauss(self.seeds, steps, 51)
            + 0.04 * smooth(self.seeds, env.t_s, 1200.0, 52)
        )
        p = (base + (peak - base) * occ + heating) * 1000.0 * wiggle
        hvac, pv = deps.get("hvac"), deps.get("pv_inverter")
        if hvac is not None and hvac.true_power_w is not None and self.hvac_matrix.size:
            p = p + self.hvac_matrix @ hvac.true_power_w
        if pv is not None and pv.true_power_w is not None and self.pv_matrix.size:
            p = p - self.pv_matrix @ pv.true_power_w
        ev = deps.get("ev_charger")
        if ev is not None and ev.true_power_w is not None and self.ev_matrix.size:
            p = p + self.ev_matrix @ ev.true_power_w
        chunk = Chunk(true_power_w=p)
        if self.theft is not None:
            p = p * (1.0 - self.theft)
        pf = np.clip(
            self.param("power_factor")[:, None] + 0.01 * smooth(self.seeds, env.t_s, 1800.0, 53),
            0.5,
            1.0,
        )
        self.phases(chunk, p, pf, steps, env)
        return chunk


class FeederFleet(_ThreePhase):
    """A 10 kV feeder: the true load of the meters it feeds, plus losses and unmetered load."""

    kind = "feeder"
    nominal_v = 10000.0
    line_to_line = True

    def __init__(self, *args: object, meter_matrix: F64, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.meter_matrix = meter_matrix  # [n_feeder, n_meter]
        self.start_counters(5_000_000.0)

    def compute(self, steps: F64, env: Env, deps: dict[str, Chunk]) -> Chunk:
        occ = occupancy(
            env, np.full(self.n, 6.0), np.full(self.n, 22.0), np.full(self.n, 0.8), place=self.place
        )
        p = self.param("unmetered_kw")[:, None] * 1000.0 * (0.5 + 0.5 * occ)
        p = p * (1.0 + 0.02 * gauss(self.seeds, steps, 61))
        meters = deps.get("meter")
        if meters is not None and meters.true_power_w is not None and self.meter_matrix.size:
            p = p + self.meter_matrix @ meters.true_power_w
        p = p * (1.0 + self.param("losses")[:, None])
        chunk = Chunk(true_power_w=p)
        self.phases(chunk, p, np.full_like(p, 0.93), steps, env)
        return chunk
