"""The fleet abstraction: all devices of one kind, simulated together as arrays [device, step].

A fleet computes a `Chunk` for K consecutive physics steps: the value of every point at each
step start, and for counters their rate, so that a counter between steps is
`value + rate * (t - t_step)` — exactly the integral of the (piecewise-constant) power.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC

import numpy as np

from firmware_sim.physics.environment import Env
from firmware_sim.physics.noise import F64
from firmware_sim.scenario import DeviceSpec, Scenario

KWH_PER_WS = 1.0 / 3.6e6


@dataclass
class Chunk:
    """Points of n devices at K steps: values [n, K]; counter rates in units per ns [n, K]."""

    values: dict[str, F64] = field(default_factory=dict)
    rates: dict[str, F64] = field(default_factory=dict)
    true_power_w: F64 | None = None  # physical load before any meter tampering (feeders)


class Fleet:
    """Base of the per-kind models. Subclasses set `kind` and implement `compute`."""

    kind = ""

    def __init__(self, scenario: Scenario, specs: list[DeviceSpec], index: dict[str, int]) -> None:
        self.scenario = scenario
        self.specs = specs
        self.ids = [s.id for s in specs]
        self.n = len(specs)
        self.dt_s = scenario.physics_step_s
        # One seed per device: scenario seed mixed with the device's position in the scenario.
        self.seeds = np.array([scenario.seed * 1000003 + index[s.id] * 7919 + 1 for s in specs])
        self.energy: dict[str, F64] = {}
        self.constants: list[dict[str, float | str]] = [{} for _ in specs]
        # [n] each device's row in the environment's places (0: the scenario's own)
        self.place = np.array([scenario.place_index(s.physics.place) for s in specs], np.intp)

    def param(self, name: str) -> F64:
        return np.array([float(getattr(s.physics, name)) for s in self.specs], dtype=np.float64)

    def integrate(self, chunk: Chunk, name: str, rate_per_s: F64) -> None:
        """Counter `name` (starting from self.energy[name]) over the chunk, from a rate in
        units per second that is constant within each step."""
        inc = rate_per_s * self.dt_s
        before = np.cumsum(inc, axis=1) - inc
        chunk.values[name] = self.energy[name][:, None] + before
        chunk.rates[name] = rate_per_s / 1e9
        self.energy[name] = self.energy[name] + inc.sum(axis=1)

    def compute(self, steps: F64, env: Env, deps: dict[str, Chunk]) -> Chunk:
        raise NotImplementedError

    def retrofit_factor(self, env: Env) -> F64:
        """[n, K] 1 - heating_reduction once a device's retrofit date is reached, else 1."""
        out = np.ones((self.n, env.t_s.shape[0]))
        for i, s in enumerate(self.specs):
            r = s.physics.retrofit
            if r is not None:
                f = r.from_ if r.from_.tzinfo else r.from_.replace(tzinfo=UTC)
                when = f.timestamp()
                out[i, env.t_s >= when] = 1.0 - r.heating_reduction
        return out
