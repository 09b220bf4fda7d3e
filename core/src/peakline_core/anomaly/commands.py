"""Commands seen in the readings: what explains an incident that the platform caused.

A demand-response event lowers an HVAC setpoint by 2 degC and its heating power falls from
150 to 11 kW: the power's models see a spike, but the fall is the order's effect, not a
fault. The commands live in the API's ledger, which ingest does not read, and a derived
figure must be a function of the stored readings; a device's writable points (a setpoint, a
mode, an enable) are polled like any other, so a *change of value* of one of them is the
signature of a command. `CommandTrail.note` takes a batch's readings of writable series (any
order) and records, per series, its last reading and the changes it saw (when the new value
was first read, from what, to what); `cause(group, start_ns)` answers the latest change of a
writable point of the device (`site/device`) whose settle time covers an incident starting
at `start_ns`: change time - `skew_s` <= start <= change time + `settle_s`.

`skew_s` (1 s): the registers of one poll are read block by block, each block stamped when
it was read, so a measured point's reading of the poll that first shows the new setpoint can
be stamped a few milliseconds before the setpoint's. An incident folded in a batch before
the change (a batch boundary within that second) is explained when the change is noted
(`IncidentBook.explain`).

Readings not newer than a series' last one are ignored (redelivery), so the changes are a
function of the readings whatever the batch split; each device keeps its latest `keep`
changes. Pure bookkeeping, no I/O; round-trips through `to_json`/`from_json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from peakline_core.anomaly.config import DETECTORS, DRIFT, FLATLINE, NOVELTY, SEASONAL, SPIKE
from peakline_core.anomaly.state import NO_TIME, Array

NS_PER_S = 1_000_000_000

EXPLAINABLE = frozenset(DETECTORS[d] for d in (SPIKE, SEASONAL, DRIFT, FLATLINE, NOVELTY))
"""Kinds a command can explain: the statistical detectors (a changed load, level or
pattern). A hard verdict (a reading outside physical limits, an impossible step, a counter
reset) or missing readings are faults whatever was ordered."""


@dataclass(frozen=True, slots=True)
class CommandChange:
    """A writable `point` of a device first read `after` at `ts_ns` (UTC ns), having read
    `before` (the point's units)."""

    point: str
    before: float
    after: float
    ts_ns: int


class CommandTrail:
    """Last reading and recent changes of every writable series seen; see the module doc."""

    def __init__(self, settle_s: float = 1800.0, skew_s: float = 1.0, keep: int = 32) -> None:
        self.settle_ns = int(settle_s * NS_PER_S)
        self.skew_ns = int(skew_s * NS_PER_S)
        self.keep = keep
        self._row: dict[str, int] = {}
        self._keys: list[str] = []
        self._last_ts = np.zeros(0, np.int64)
        self._last = np.zeros(0, np.float64)
        self.changes: dict[str, list[CommandChange]] = {}  # group -> oldest first

    def __len__(self) -> int:
        return len(self._row)

    def note(
        self, keys: Sequence[str], ts: Array, values: Array
    ) -> list[tuple[str, CommandChange]]:
        """Record readings of writable series (`site/device/point` per reading, UTC ns,
        finite values; any order); returns the changes they show (group, change), in time
        order per series."""
        ts = np.asarray(ts, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        if ts.size == 0:
            return []
        uniq, inv = np.unique(np.asarray(keys, dtype=str), return_inverse=True)
        rows = self._rows([str(k) for k in uniq])[inv]
        order = np.lexsort((ts, rows))
        r, t, v = rows[order], ts[order], values[order]
        fresh = t > self._last_ts[r]  # redelivered or older readings change nothing
        r, t, v = r[fresh], t[fresh], v[fresh]
        if r.size == 0:
            return []
        first = np.ones(r.size, bool)
        first[1:] = r[1:] != r[:-1]
        prev = np.empty_like(v)
        prev[1:] = v[:-1]
        prev[first] = self._last[r[first]]  # NaN before a series' first reading
        moved = np.flatnonzero(~np.isnan(prev) & (v != prev))
        last = np.flatnonzero(np.append(first[1:], True))
        self._last_ts[r[last]] = t[last]
        self._last[r[last]] = v[last]
        found = []
        for i in moved.tolist():
            group, _, point = self._keys[int(r[i])].rpartition("/")
            change = CommandChange(point, float(prev[i]), float(v[i]), int(t[i]))
            trail = self.changes.setdefault(group, [])
            trail.append(change)
            trail.sort(key=lambda c: c.ts_ns)
            del trail[: -self.keep]
            found.append((group, change))
        return found

    def cause(self, group: str, start_ns: int) -> CommandChange | None:
        """The latest change on device `group` whose settle time covers `start_ns`."""
        best = None
        for c in self.changes.get(group, ()):
            if c.ts_ns - self.skew_ns <= start_ns <= c.ts_ns + self.settle_ns:
                best = c
        return best

    def _rows(self, keys: list[str]) -> Array:
        new = [k for k in keys if k not in self._row]
        if new:
            start = len(self._row)
            self._row.update((k, start + i) for i, k in enumerate(new))
            self._keys.extend(new)
            self._last_ts = np.concatenate([self._last_ts, np.full(len(new), NO_TIME, np.int64)])
            self._last = np.concatenate([self._last, np.full(len(new), np.nan)])
        return np.fromiter((self._row[k] for k in keys), np.int64, len(keys))

    def to_json(self) -> dict[str, Any]:
        return {
            "series": {
                k: [int(self._last_ts[i]), float(self._last[i])] for k, i in self._row.items()
            },
            "changes": {
                g: [[c.point, c.before, c.after, c.ts_ns] for c in trail]
                for g, trail in self.changes.items()
            },
        }

    @classmethod
    def from_json(
        cls, data: dict[str, Any], settle_s: float = 1800.0, skew_s: float = 1.0
    ) -> CommandTrail:
        trail = cls(settle_s, skew_s)
        series = {str(k): v for k, v in data.get("series", {}).items()}
        rows = trail._rows(list(series))
        trail._last_ts[rows] = [int(v[0]) for v in series.values()]
        trail._last[rows] = [float(v[1]) for v in series.values()]
        trail.changes = {
            str(g): [CommandChange(str(p), float(b), float(a), int(t)) for p, b, a, t in changes]
            for g, changes in data.get("changes", {}).items()
        }
        return trail
