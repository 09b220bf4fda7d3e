"""Offline rendering of a scenario: no network, just the values every device would report.

`render(scenario, profiles, start_ns, end_ns, step_s)` runs the same physics and fault code as
the live servers and samples every numeric point of every device every `step_s` seconds over
[start_ns, end_ns). The result holds, per (device, point), the timestamps (UTC ns) and the
reported engineering values with fault effects included:

- spike, drift, flatline: the value changed as the fault says;
- dropout / reboot / timeout / exception: NaN (no reading) for the affected points;
- counter_reset / rollover: the counter drops at the fault's start and counts on from there;
- wrong_endian: what a client decoding with the profile's byte order would see;
- hvac_waste / theft: the physics itself (HVAC running in an empty building, meter under-reading);
- slow / single_connection: wire-only, no effect on values.

and `ground_truth`, the list of Fault(device, point, start_ns, end_ns, kind) injected, exactly as
`firmware_sim.run(...).ground_truth` reports them. The physics always starts at the scenario's
`start`, so render from there for the same values as a live run (rendering later just
computes, and discards, the steps before start_ns). Values are physical (not quantized to the
register resolution).

Example (bench/anomaly_eval.py):

    sc = Scenario.from_yaml("config/scenarios/district-faults.yaml")
    r = render(sc, load_profiles("config/profiles"), sc_start, sc_start + 7 * 86400 * 10**9, 60)
    ts, power = r.series("school-meter", "power_total")
    truth = r.ground_truth
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from firmware_sim.faults import Fault, Injected, resolve
from firmware_sim.measure import apply_faults, point_names
from firmware_sim.physics.fleet import Chunk
from firmware_sim.physics.noise import F64
from firmware_sim.profiles import Profile
from firmware_sim.scenario import Scenario
from firmware_sim.timeparse import NS
from firmware_sim.world import World


@dataclass
class Rendered:
    """Sampled series: `timestamps` [N] UTC ns shared by all series; `values[(device, point)]`
    [N] float64 (NaN = no reading); `units[(device, point)]`; the ground truth."""

    timestamps: npt.NDArray[np.int64]
    values: dict[tuple[str, str], F64] = field(default_factory=dict)
    units: dict[tuple[str, str], str] = field(default_factory=dict)
    ground_truth: list[Fault] = field(default_factory=list)

    def series(self, device: str, point: str) -> tuple[npt.NDArray[np.int64], F64]:
        return self.timestamps, self.values[(device, point)]

    @property
    def keys(self) -> list[tuple[str, str]]:
        return list(self.values)


def injected_faults(scenario: Scenario, start_ns: int) -> list[Injected]:
    return [resolve(spec, start_ns, i) for i, spec in enumerate(scenario.faults)]


def render(
    scenario: Scenario,
    profiles: dict[str, Profile],
    start_ns: int,
    end_ns: int,
    step_s: float,
) -> Rendered:
    """Sample every device's reported values every step_s seconds over [start_ns, end_ns)."""
    world = World(scenario, profiles)
    if start_ns < world.start_ns:
        raise ValueError("render start is before the scenario start")
    for inj in injected_faults(scenario, world.start_ns):
        world.add_fault(inj)
    ts = np.arange(start_ns, end_ns, round(step_s * NS), dtype=np.int64)
    ks = (ts - world.start_ns) // world.step_ns
    physical: dict[str, dict[str, F64]] = {}
    for kind, fleet in world.fleets.items():
        if fleet.n:
            physical[kind] = {}

    def collect(k0: int, chunks: dict[str, Chunk]) -> None:
        some = next(iter(chunks.values()))
        count = next(iter(some.values.values())).shape[1]
        sel = np.flatnonzero((ks >= k0) & (ks < k0 + count))
        if not sel.size:
            return
        j = ks[sel] - k0
        frac = (ts[sel] - world.start_ns - ks[sel] * world.step_ns).astype(np.float64)
        for kind, c in chunks.items():
            store = physical[kind]
            for p, arr in c.values.items():
                if p not in store:
                    store[p] = np.full((arr.shape[0], ts.shape[0]), np.nan)
                vals = arr[:, j]
                if p in c.rates:
                    vals = vals + c.rates[p][:, j] * frac[None, :]
                store[p][:, sel] = vals

    if ts.size:
        world.advance(int(ks[-1]), collect)
    out = Rendered(timestamps=ts, ground_truth=[f.fault for f in world.faults])
    for dev in scenario.devices:
        kind, row = world.where[dev.id]
        profile = profiles[dev.profile]
        consts = world.constants(dev.id)
        raw: dict[str, F64] = {}
        for name in point_names(profile):
            if name in physical[kind]:
                raw[name] = physical[kind][name][row].copy()
            elif isinstance(consts.get(name), int | float):
                raw[name] = np.full(ts.shape[0], float(consts[name]))
            else:
                raw[name] = np.zeros(ts.shape[0])
        mine = [f for f in world.faults if f.fault.device == dev.id]
        reported = apply_faults(mine, world.captured, profile, consts, ts, raw)
        units = (
            {p.name: p.unit for p in profile.points}
            if hasattr(profile, "points")
            else {f.name: f.unit for f in profile.fields}
        )
        for name, series in reported.items():
            out.values[(dev.id, name)] = series
            out.units[(dev.id, name)] = units.get(name, "")
    return out
