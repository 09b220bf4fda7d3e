"""`WindowBook`: one source's recent windows, so a window is written whole, and again when
a later interval (a frozen counter's catch-up, a glitch resolved) adds to it.

A walk emits intervals in time order but a window can receive energy from several of them,
across chunks. The book sums them per window; `take_closed(until)` returns the windows that
changed and are complete (end <= `until`, the walk's last good reading: no later interval
starts before it except a catch-up, which the book still holds); `forget(before)` drops
windows that no later interval can reach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peakline_core.derive.intervals import Windows

_FIELDS = 5  # kwh, estimated_kwh, suspect_kwh, covered_s, suspect_n


@dataclass(slots=True)
class WindowBook:
    window_ns: int
    sums: dict[int, list[float]] = field(default_factory=dict)
    dirty: set[int] = field(default_factory=set)

    def add(self, windows: Windows) -> None:
        for start, kwh, est, sus, cov, n in zip(
            windows.start.tolist(),
            windows.kwh.tolist(),
            windows.estimated_kwh.tolist(),
            windows.suspect_kwh.tolist(),
            windows.covered_s.tolist(),
            windows.suspect_n.tolist(),
            strict=True,
        ):
            acc = self.sums.setdefault(start, [0.0] * _FIELDS)
            acc[0] += kwh
            acc[1] += est
            acc[2] += sus
            acc[3] += cov
            acc[4] += n
            self.dirty.add(start)

    def take_closed(self, until_ns: int) -> Windows:
        """Changed windows whose end is at or before `until_ns`; they are no longer dirty."""
        ready = sorted(s for s in self.dirty if s + self.window_ns <= until_ns)
        self.dirty.difference_update(ready)
        rows = np.array([self.sums[s] for s in ready], dtype=np.float64).reshape(-1, _FIELDS)
        return Windows(
            np.array(ready, dtype=np.int64),
            rows[:, 0].copy(),
            rows[:, 1].copy(),
            rows[:, 2].copy(),
            rows[:, 3].copy(),
            rows[:, 4].astype(np.int64),
        )

    def forget(self, before_ns: int) -> None:
        """Drop windows ending at or before `before_ns` (already written, out of reach)."""
        for s in [s for s in self.sums if s + self.window_ns <= before_ns]:
            del self.sums[s]
            self.dirty.discard(s)

    def to_json(self) -> dict[str, Any]:
        return {
            "window_ns": self.window_ns,
            "sums": [[s, *v] for s, v in sorted(self.sums.items())],
            "dirty": sorted(self.dirty),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WindowBook:
        book = cls(int(data["window_ns"]))
        book.sums = {int(r[0]): [float(x) for x in r[1:]] for r in data.get("sums", [])}
        book.dirty = {int(s) for s in data.get("dirty", [])}
        return book
