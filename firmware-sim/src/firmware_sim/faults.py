"""Injected faults: the ground-truth record, and the measurement-level effects applied to a
point's series (vectorized over time; the live servers call it with one sample).

Ground truth file formats (`write_ground_truth`):
- CSV (`.csv`): header `device,point,start_ns,end_ns,kind`; empty point = the whole device,
  empty end_ns = until the end of the run.
- JSONL (any other suffix): one object per line with the same keys (null for empty).
Instant faults (counter_reset, rollover) have end_ns == start_ns.
"""

from __future__ import annotations

import csv
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from firmware_sim.physics.noise import F64
from firmware_sim.scenario import FaultKind, FaultSpec
from firmware_sim.timeparse import duration_ns, offset_or_instant_ns

INSTANT = {FaultKind.COUNTER_RESET, FaultKind.ROLLOVER}
# Faults that change what the device physically does (handled by the world, not per reading).
PHYSICAL = {FaultKind.HVAC_WASTE, FaultKind.THEFT, FaultKind.REBOOT}
# Faults that only exist on the wire (no effect on an offline rendering's values).
WIRE_ONLY = {FaultKind.SLOW, FaultKind.SINGLE_CONNECTION}
# Faults that need the point's value at their start.
CAPTURED = {FaultKind.FLATLINE, FaultKind.COUNTER_RESET, FaultKind.ROLLOVER}
# Faults after which the device gives no reading at all (NaN offline).
SILENT = {FaultKind.REBOOT, FaultKind.TIMEOUT, FaultKind.DROPOUT, FaultKind.EXCEPTION}


@dataclass(frozen=True, slots=True)
class Fault:
    """One injected fault, as detectors are scored against it. Times are UTC ns."""

    device: str
    point: str | None
    start_ns: int
    end_ns: int | None
    kind: str


@dataclass(frozen=True, slots=True)
class Injected:
    """A fault with its parameters and its id (its position in the ground truth)."""

    id: int
    spec: FaultSpec
    fault: Fault

    @property
    def kind(self) -> FaultKind:
        return self.spec.kind

    def active(self, t_ns: int) -> bool:
        f = self.fault
        if self.kind in INSTANT:
            return t_ns >= f.start_ns
        return t_ns >= f.start_ns and (f.end_ns is None or t_ns < f.end_ns)

    def window(self, ts: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """Which of the times ts (UTC ns) the fault is active at."""
        f = self.fault
        if self.kind in INSTANT:
            return np.asarray(ts >= f.start_ns)
        end = np.iinfo(np.int64).max if f.end_ns is None else f.end_ns
        return np.asarray((ts >= f.start_ns) & (ts < end))


def resolve(spec: FaultSpec, start_ns: int, fault_id: int) -> Injected:
    """Turn a scenario fault (offsets or instants) into an Injected fault with UTC ns times."""
    s = offset_or_instant_ns(spec.start, start_ns)
    if spec.kind in INSTANT:
        end: int | None = s
    elif spec.duration is None:
        end = None
    else:
        end = s + duration_ns(spec.duration)
    return Injected(fault_id, spec, Fault(spec.device, spec.point, s, end, spec.kind.value))


def apply_series(
    inj: Injected,
    ts: npt.NDArray[np.int64],
    values: F64,
    captured: float | None,
    modulus: float | None,
) -> F64:
    """Measurement effect of one fault on one point's values at times ts (UTC ns)."""
    kind = inj.kind
    spec = inj.spec
    win = inj.window(np.asarray(ts, dtype=np.int64))
    out = values.copy()
    if kind is FaultKind.SPIKE:
        big = np.abs(out) > 1e-6
        out[win] = np.where(big[win], out[win] * spec.magnitude, spec.magnitude)
    elif kind is FaultKind.FLATLINE and captured is not None:
        out[win] = captured
    elif kind is FaultKind.DRIFT:
        hours = (np.asarray(ts, dtype=np.float64) - inj.fault.start_ns) / 3.6e12
        out[win] = out[win] + spec.rate_per_h * hours[win]
    elif kind is FaultKind.COUNTER_RESET and captured is not None:
        out[win] = out[win] - captured
    elif kind is FaultKind.ROLLOVER and captured is not None and modulus:
        # The device had been counting up to its limit: it wraps to ~0 exactly at start.
        out = np.mod(out + (modulus - captured), modulus)
    elif kind in SILENT:
        out[win] = np.nan
    return out


def write_ground_truth(faults: list[Fault], path: str | Path) -> Path:
    """Write the ground truth as CSV (.csv) or JSONL (anything else); returns the path."""
    path = Path(path)
    if path.suffix == ".csv":
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["device", "point", "start_ns", "end_ns", "kind"])
            for f in faults:
                end = "" if f.end_ns is None else f.end_ns
                w.writerow([f.device, f.point or "", f.start_ns, end, f.kind])
    else:
        with path.open("w") as fh:
            for f in faults:
                fh.write(json.dumps(asdict(f)) + "\n")
    return path


def read_ground_truth(path: str | Path) -> list[Fault]:
    """Read a file written by write_ground_truth."""
    path = Path(path)
    out: list[Fault] = []
    if path.suffix == ".csv":
        with path.open(newline="") as fh:
            for row in csv.DictReader(fh):
                out.append(
                    Fault(
                        row["device"],
                        row["point"] or None,
                        int(row["start_ns"]),
                        int(row["end_ns"]) if row["end_ns"] else None,
                        row["kind"],
                    )
                )
    else:
        for line in path.read_text().splitlines():
            if line.strip():
                out.append(Fault(**json.loads(line)))
    return out
