"""`EnergyTrack`: one energy source's walk and recent windows, and the rows it writes.

A counter source walks with `walk_counter`, a power source with `walk_power` (net power
gives two flows, import and export). Each flow has a `WindowBook`; windows are written when
closed by the walk (a later good reading exists), and again if a later interval adds to
them. The track's whole state is JSON, so the deriver can checkpoint it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from peakline_core.derive import (
    CounterLimits,
    CounterState,
    CounterStats,
    IntervalSink,
    PowerLimits,
    PowerState,
    WindowBook,
    Windows,
    to_windows,
    walk_counter,
    walk_power,
)
from peakline_core.storage import Row
from peakline_core.storage.schema import ENERGY
from peakline_ingest.derive.sources import EnergySource

NS = 1_000_000_000


@dataclass(slots=True)
class EnergyTrack:
    source: EnergySource
    window_ns: int
    keep_ns: int
    replacements: tuple[tuple[int, float, float], ...] = ()
    max_gap_s: float = 900.0
    counter: CounterState = field(default_factory=CounterState)
    power: PowerState = field(default_factory=PowerState)
    books: dict[str, WindowBook] = field(default_factory=dict)
    stats: CounterStats = field(default_factory=CounterStats)
    emit_from: int = 0
    """Windows before this are not written: a fresh walk's first window is partial."""

    @property
    def flows(self) -> tuple[str, ...]:
        return ("import", "export") if self.source.flow == "net" else (self.source.flow,)

    @property
    def last_ts(self) -> int:
        """The walk's last good reading (windows ending by then are complete)."""
        return self.counter.t if self.source.kind == "counter" else self.power.t

    def reset(self) -> None:
        self.counter = CounterState()
        self.power = PowerState()
        self.books = {}
        self.emit_from = 0

    def feed(self, ts: npt.NDArray[np.int64], values: npt.NDArray[np.float64]) -> list[Row]:
        """Walk new readings (engineering units); returns the rows of windows it closed."""
        src = self.source
        if self.last_ts < 0 and ts.size:  # a fresh walk: energy before its anchor is unknown
            self.emit_from = int(ts[0]) - int(ts[0]) % self.window_ns + self.window_ns
        scaled = values * src.factor
        sinks = tuple(IntervalSink() for _ in self.flows)
        if src.kind == "counter":
            limits = CounterLimits(max_kw=src.max_kw, rollover=src.rollover)
            self.counter = walk_counter(
                self.counter, ts, scaled, limits, sinks[0], self.stats, self.replacements
            )
        else:
            limits_p = PowerLimits(max_kw=src.max_kw, max_gap_s=self.max_gap_s)
            self.power = walk_power(self.power, ts, scaled, limits_p, sinks)
        rows: list[Row] = []
        until = self.last_ts
        for flow, sink in zip(self.flows, sinks, strict=True):
            book = self.books.setdefault(flow, WindowBook(self.window_ns))
            intervals = sink.intervals()
            if len(intervals) or intervals.suspect_ts.size:
                book.add(to_windows(intervals, self.window_ns))
            closed = book.take_closed(until)
            rows.extend(r for r in self._rows(flow, closed) if r.ts >= self.emit_from)
            book.forget(until - self.keep_ns)
        return rows

    def _rows(self, flow: str, windows: Windows) -> list[Row]:
        tags = {"site": self.source.site, "device": self.source.device, "flow": flow}
        return [
            Row(
                ENERGY,
                tags,
                {
                    "kwh": kwh,
                    "estimated_kwh": est,
                    "suspect_kwh": sus,
                    "covered_s": cov,
                    "suspect_n": int(n),
                    "quality": str(q),
                },
                int(t),
            )
            for t, kwh, est, sus, cov, n, q in zip(
                windows.start.tolist(),
                windows.kwh.tolist(),
                windows.estimated_kwh.tolist(),
                windows.suspect_kwh.tolist(),
                windows.covered_s.tolist(),
                windows.suspect_n.tolist(),
                windows.quality(),
                strict=True,
            )
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "counter": self.counter.to_json(),
            "power": self.power.to_json(),
            "books": {flow: book.to_json() for flow, book in self.books.items()},
            "emit_from": self.emit_from,
        }

    def load_json(self, data: dict[str, Any]) -> None:
        self.counter = CounterState.from_json(data["counter"])
        self.power = PowerState.from_json(data["power"])
        self.books = {flow: WindowBook.from_json(b) for flow, b in data["books"].items()}
        self.emit_from = int(data.get("emit_from", 0))
