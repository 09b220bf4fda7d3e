"""The simulated district: every fleet advanced together on one grid of physics steps.

Step k covers [start + k*dt, start + (k+1)*dt). Powers are constant within a step; counters
grow linearly inside it, so `value(t)` is exact at any t, not just on the grid. The world only
moves forward; live servers call `advance` with the current simulated time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from firmware_sim.errors import ClockError, ScenarioError
from firmware_sim.faults import CAPTURED, Injected
from firmware_sim.physics.environment import Environment
from firmware_sim.physics.ev import EvFleet
from firmware_sim.physics.fleet import Chunk, Fleet
from firmware_sim.physics.hvac import AirFleet, HvacFleet
from firmware_sim.physics.loads import FeederFleet, MeterFleet
from firmware_sim.physics.noise import F64
from firmware_sim.physics.pv import PvFleet
from firmware_sim.physics.utility import UtilityFleet
from firmware_sim.scenario import FaultKind, Scenario
from firmware_sim.timeparse import NS, instant_ns
from peakline_core.config import ModbusProfile, MqttProfile

ORDER = ("pv_inverter", "hvac", "air_quality", "ev_charger", "utility_meter", "meter", "feeder")
MAX_CHUNK = 2048
Profile = ModbusProfile | MqttProfile


class World:
    def __init__(self, scenario: Scenario, profiles: dict[str, Profile]) -> None:
        self.scenario = scenario
        self.profiles = profiles
        self.start_ns = instant_ns(scenario.start)
        self.step_ns = round(scenario.physics_step_s * NS)
        self.env = Environment(scenario)
        self.faults: list[Injected] = []
        self.captured: dict[int, float] = {}
        self.write_log: list[Any] = []  # device.WriteRecord, in arrival order
        self.k_next = 0  # first step not computed yet
        self.last: dict[str, Chunk] = {}  # the column of step k_next - 1, per kind
        self.where: dict[str, tuple[str, int]] = {}  # device -> (kind, row)
        index = {d.id: i for i, d in enumerate(scenario.devices)}
        by_kind: dict[str, list[Any]] = {k: [] for k in ORDER}
        for d in scenario.devices:
            prof = profiles.get(d.profile)
            if prof is None:
                raise ScenarioError(f"device {d.id!r}: unknown profile {d.profile!r}")
            if prof.kind not in by_kind:
                raise ScenarioError(f"device {d.id!r}: no physics for kind {prof.kind!r}")
            self.where[d.id] = (prof.kind, len(by_kind[prof.kind]))
            by_kind[prof.kind].append(d)
        rows = {k: {d.id: i for i, d in enumerate(v)} for k, v in by_kind.items()}

        def matrix(specs: list[Any], attr: str, kind: str) -> F64:
            m = np.zeros((len(specs), len(by_kind[kind])))
            for i, s in enumerate(specs):
                for ref in getattr(s.physics, attr):
                    if ref in rows[kind]:
                        m[i, rows[kind][ref]] = 1.0
            return m

        meters, feeders = by_kind["meter"], by_kind["feeder"]
        self.fleets: dict[str, Fleet] = {
            "pv_inverter": PvFleet(scenario, by_kind["pv_inverter"], index),
            "hvac": HvacFleet(scenario, by_kind["hvac"], index),
            "air_quality": AirFleet(
                scenario,
                by_kind["air_quality"],
                index,
                zone_index=[
                    rows["hvac"].get(d.physics.zone or "", -1) for d in by_kind["air_quality"]
                ],
            ),
            "ev_charger": EvFleet(scenario, by_kind["ev_charger"], index),
            "utility_meter": UtilityFleet(scenario, by_kind["utility_meter"], index),
            "meter": MeterFleet(
                scenario,
                meters,
                index,
                hvac_matrix=matrix(meters, "includes", "hvac"),
                pv_matrix=matrix(meters, "includes", "pv_inverter"),
                ev_matrix=matrix(meters, "includes", "ev_charger"),
            ),
            "feeder": FeederFleet(
                scenario, feeders, index, meter_matrix=matrix(feeders, "feeds", "meter")
            ),
        }

    # -- time -------------------------------------------------------------------------------
    def step_of(self, t_ns: int) -> int:
        return (t_ns - self.start_ns) // self.step_ns

    def step_start_ns(self, k: int) -> int:
        return self.start_ns + k * self.step_ns

    # -- stepping ---------------------------------------------------------------------------
    def advance(
        self, k_end: int, on_chunk: Callable[[int, dict[str, Chunk]], None] | None = None
    ) -> None:
        """Compute every step up to and including k_end (no-op if already there)."""
        while self.k_next <= k_end:
            k0 = self.k_next
            count = min(MAX_CHUNK, k_end - k0 + 1)
            steps = np.arange(k0, k0 + count, dtype=np.float64)
            t_s = (self.start_ns + (k0 + np.arange(count)) * self.step_ns) / NS
            env = self.env.at(t_s)
            self._physical_faults(k0, count)
            chunks: dict[str, Chunk] = {}
            for kind in ORDER:
                fleet = self.fleets[kind]
                if fleet.n:
                    chunks[kind] = fleet.compute(steps, env, chunks)
            self.k_next = k0 + count
            self._capture(k0, count, chunks)
            if on_chunk is not None:
                on_chunk(k0, chunks)
            self.last = {
                kind: Chunk(
                    values={p: a[:, -1:] for p, a in c.values.items()},
                    rates={p: a[:, -1:] for p, a in c.rates.items()},
                )
                for kind, c in chunks.items()
            }

    def values_at(self, device: str, t_ns: int) -> dict[str, float]:
        """Physical value of every simulated quantity of `device` at t (before measurement
        faults). Advances the world to t; raises ClockError for a time already passed."""
        k = self.step_of(t_ns)
        if k < self.k_next - 1:
            raise ClockError(f"t={t_ns} is before the current physics step")
        self.advance(k)
        kind, row = self.where[device]
        col = self.last[kind]
        dt = float(t_ns - self.step_start_ns(k))
        out = {p: float(a[row, 0]) for p, a in col.values.items()}
        for p, r in col.rates.items():
            out[p] += float(r[row, 0]) * dt
        out.update(
            {
                p: v
                for p, v in self.fleets[kind].constants[row].items()
                if isinstance(v, float | int)
            }
        )
        return out

    def controls(self, device: str) -> dict[str, float]:
        """Current writable settings (HVAC setpoint, mode, running; EV charger current_limit;
        PV inverter limit_pct, limit_enabled); empty for other kinds."""
        kind, row = self.where[device]
        fleet = self.fleets[kind]
        if isinstance(fleet, EvFleet):
            return {"current_limit": float(fleet.current_limit[row])}
        if isinstance(fleet, PvFleet):
            return {
                "limit_pct": float(fleet.limit_pct[row]),
                "limit_enabled": float(fleet.limit_enabled[row]),
            }
        if not isinstance(fleet, HvacFleet):
            return {}
        return {
            "setpoint": float(fleet.setpoint[row]),
            "mode": float(fleet.mode[row]),
            "running": float(fleet.running[row]),
        }

    def set_controls(self, device: str, updates: dict[str, float], t_ns: int) -> None:
        """Apply written settings from the step after t (the steps up to t keep the old ones)."""
        kind, row = self.where[device]
        fleet = self.fleets[kind]
        self.advance(self.step_of(t_ns))
        if isinstance(fleet, HvacFleet):
            for name, value in updates.items():
                if name in ("setpoint", "mode", "running"):
                    getattr(fleet, name)[row] = value
        if isinstance(fleet, PvFleet):
            for name in ("limit_pct", "limit_enabled"):
                if name in updates:
                    getattr(fleet, name)[row] = updates[name]
        if isinstance(fleet, EvFleet) and "current_limit" in updates:
            fleet.current_limit[row] = updates["current_limit"]

    def constants(self, device: str) -> dict[str, float | str]:
        kind, row = self.where[device]
        return self.fleets[kind].constants[row]

    # -- faults -----------------------------------------------------------------------------
    def add_fault(self, inj: Injected) -> None:
        if inj.fault.device not in self.where:
            raise ScenarioError(f"fault on unknown device {inj.fault.device!r}")
        self.faults.append(inj)
        k = self.step_of(inj.fault.start_ns)
        if inj.kind in CAPTURED and k < self.k_next:
            if k < self.k_next - 1:
                raise ClockError("a flatline/reset/rollover fault cannot start in the past")
            self._capture_one(inj, self.last, 0, k)

    def _capture(self, k0: int, count: int, chunks: dict[str, Chunk]) -> None:
        for inj in self.faults:
            if inj.kind in CAPTURED and inj.id not in self.captured:
                k = self.step_of(inj.fault.start_ns)
                if k0 <= k < k0 + count:
                    self._capture_one(inj, chunks, k - k0, k)

    def _capture_one(self, inj: Injected, chunks: dict[str, Chunk], j: int, k: int) -> None:
        kind, row = self.where[inj.fault.device]
        c = chunks[kind]
        point = inj.fault.point or ""
        if point not in c.values:
            self.captured[inj.id] = float("nan")
            return
        v = float(c.values[point][row, j])
        if point in c.rates:
            v += float(c.rates[point][row, j]) * (inj.fault.start_ns - self.step_start_ns(k))
        self.captured[inj.id] = v

    def _physical_faults(self, k0: int, count: int) -> None:
        ts = self.start_ns + (k0 + np.arange(count, dtype=np.int64)) * self.step_ns
        hvac, meter = self.fleets["hvac"], self.fleets["meter"]
        assert isinstance(hvac, HvacFleet) and isinstance(meter, MeterFleet)
        hvac.waste = np.zeros((hvac.n, count))
        hvac.down = np.zeros((hvac.n, count))
        meter.theft = np.zeros((meter.n, count))
        for inj in self.faults:
            kind, row = self.where[inj.fault.device]
            win = inj.window(ts)
            if inj.kind is FaultKind.HVAC_WASTE and kind == "hvac":
                hvac.waste[row, win] = 1.0
            elif inj.kind is FaultKind.REBOOT and kind == "hvac":
                hvac.down[row, win] = 1.0
                end = inj.fault.end_ns
                if end is not None and k0 <= self.step_of(end) < k0 + count:
                    hvac.defaults(row)  # volatile settings are lost on reboot
            elif inj.kind is FaultKind.THEFT and kind == "meter":
                meter.theft[row, win] = inj.spec.fraction
