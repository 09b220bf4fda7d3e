"""Simulated time: start + (monotonic - t0) * speed, or a manual clock (speed 0) that tests
move explicitly — control time instead of sleeping."""

from __future__ import annotations

import time

from firmware_sim.errors import ClockError
from firmware_sim.timeparse import NS


class SimClock:
    def __init__(self, start_ns: int, speed: float) -> None:
        self.start_ns = start_ns
        self.speed = speed
        self._t0 = time.monotonic_ns()
        self._manual = start_ns

    @property
    def manual(self) -> bool:
        return self.speed == 0

    def now(self) -> int:
        """Simulated UTC ns."""
        if self.manual:
            return self._manual
        return self.start_ns + int((time.monotonic_ns() - self._t0) * self.speed)

    def set(self, t_ns: int) -> None:
        """Manual clocks only: jump to t_ns (never backwards)."""
        if not self.manual:
            raise ClockError("only a manual clock (speed 0) can be set")
        if t_ns < self._manual:
            raise ClockError("the simulated clock cannot go backwards")
        self._manual = t_ns

    def advance(self, seconds: float) -> int:
        """Manual clocks only: move forward by `seconds` of simulated time; returns now."""
        self.set(self._manual + round(seconds * NS))
        return self._manual

    def release(self, at_ns: int, speed: float = 1.0) -> None:
        """Manual clocks only: from now on run at `speed` from `at_ns` (never backwards) — a
        backfill steps a manual clock through the past, then lets it run live."""
        if not self.manual:
            raise ClockError("only a manual clock (speed 0) can be released")
        if speed <= 0:
            raise ClockError("a released clock needs a positive speed")
        if at_ns < self._manual:
            raise ClockError("the simulated clock cannot go backwards")
        self.start_ns, self._t0, self.speed = at_ns, time.monotonic_ns(), speed

    def wall_seconds(self, sim_seconds: float) -> float:
        """Wall time that `sim_seconds` of simulated time take (manual: as if speed 1)."""
        return sim_seconds / (self.speed or 1.0)
