"""EV chargers (AC, 3-phase): a daily plug-in session per charger, charging at the current
limit the operator writes, so demand response and carbon-aware scheduling can defer it.

Power = phases * voltage * min(current_limit, max_current) while a vehicle is plugged in and
still needs energy; a session that is curtailed simply takes longer (the energy is deferred,
not lost) until the vehicle leaves. Working days only: the vehicle arrives at `open_hour`
(+ up to 1 h, per charger and day) and leaves at `close_hour`, needing 10-40 kWh.
"""

from __future__ import annotations

import numpy as np

from firmware_sim.physics.environment import Env
from firmware_sim.physics.fleet import Chunk, Fleet
from firmware_sim.physics.noise import F64, uniform

VOLTAGE_V = 230.0
PHASES = 3
IDLE, WAITING, CHARGING = 0.0, 1.0, 2.0


class EvFleet(Fleet):
    kind = "ev_charger"

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.max_current = self.param("max_current_a")
        self.current_limit = self.max_current.copy()
        self.remaining_kwh = np.zeros(self.n)
        self.day = np.full(self.n, -1.0)  # local day of the current session
        self.energy["energy"] = 500.0 + 5000.0 * (self.seeds % 991) / 991.0
        self.session_kwh = np.zeros(self.n)

    def compute(self, steps: F64, env: Env, deps: dict[str, Chunk]) -> Chunk:
        n, k_count = self.n, steps.shape[0]
        offsets = np.array([p.utc_offset_h for p in self.scenario.all_places()])[self.place]
        # [n, K] each charger's local day (its place's clock); one draw per charger and day
        local_day = np.floor((env.t_s[None, :] + offsets[:, None] * 3600.0) / 86400.0)
        days = local_day.astype(np.int64)

        def draw(stream: int) -> F64:
            rows = [uniform(self.seeds[i : i + 1], days[i], stream)[0] for i in range(n)]
            return np.stack(rows) if rows else np.zeros((0, k_count))

        arrive = self.param("open_hour")[:, None] + draw(31)
        need = 10.0 + 30.0 * draw(32)
        plugged = (
            (env.hour[self.place] >= arrive)
            & (env.hour[self.place] < self.param("close_hour")[:, None])
            & ~env.weekend[self.place]
        )
        hours = self.dt_s / 3600.0
        amps = np.minimum(self.current_limit, self.max_current)
        max_kw = PHASES * VOLTAGE_V * amps / 1000.0
        power = np.zeros((n, k_count))
        status = np.zeros((n, k_count))
        session = np.zeros((n, k_count))
        rem, day = self.remaining_kwh, self.day
        session_kwh = self.session_kwh.copy()
        for j in range(k_count):  # session state carries from step to step; vectorized over n
            new = plugged[:, j] & (day != local_day[:, j])
            rem = np.where(new, need[:, j], rem)
            session_kwh = np.where(new, 0.0, session_kwh)
            day = np.where(new, local_day[:, j], day)
            rem = np.where(plugged[:, j], rem, 0.0)
            kw = np.where(plugged[:, j], np.minimum(max_kw, rem / hours), 0.0)
            power[:, j] = kw * 1000.0
            status[:, j] = np.where(kw > 0, CHARGING, np.where(plugged[:, j], WAITING, IDLE))
            session[:, j] = session_kwh
            rem = rem - kw * hours
            session_kwh = session_kwh + kw * hours
        self.remaining_kwh, self.day = rem, day
        chunk = Chunk(true_power_w=power)
        chunk.values["power"] = power
        chunk.values["status"] = status
        chunk.values["current_limit"] = np.repeat(self.current_limit[:, None], k_count, axis=1)
        chunk.values["current"] = power / (PHASES * VOLTAGE_V)
        chunk.values["session_energy"] = session
        self.integrate(chunk, "energy", power / 3.6e6)
        self.session_kwh = session_kwh
        return chunk
