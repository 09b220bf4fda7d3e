"""Utility counters: gas meters (m3), coal weighers (t), heat meters (GJ or kWh),
water meters (m3), UPS output and cooling-plant energy meters (kWh) of a boiler house, a
district heating connection or a data centre.

Each device turns one counter point, `total`, at a rate per hour of

    base_rate_per_h + heating_rate_per_k * max(0, balance_c - t_out)
                    + cooling_rate_per_k * max(0, t_out - balance_c)

in the profile's unit: a boiler burns more when it is cold, a chiller plant draws more when it
is hot, an IT load (UPS output) is flat. The ground truth is the counter itself: its increase
over a period is exactly the integral of the rate.
"""

from __future__ import annotations

import numpy as np

from firmware_sim.physics.environment import Env
from firmware_sim.physics.fleet import Chunk, Fleet
from firmware_sim.physics.noise import F64

COUNTER = "total"


class UtilityFleet(Fleet):
    kind = "utility_meter"

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.energy[COUNTER] = self.param("initial_total")

    def compute(self, steps: F64, env: Env, deps: dict[str, Chunk]) -> Chunk:
        balance = self.param("balance_c")[:, None]
        t_out = env.t_out[self.place]
        per_h = (
            self.param("base_rate_per_h")[:, None]
            + self.param("heating_rate_per_k")[:, None] * np.maximum(0.0, balance - t_out)
            + self.param("cooling_rate_per_k")[:, None] * np.maximum(0.0, t_out - balance)
        )
        chunk = Chunk()
        self.integrate(chunk, COUNTER, per_h / 3600.0)
        chunk.values["rate_per_h"] = per_h
        return chunk
