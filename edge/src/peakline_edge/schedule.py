"""When to poll (pure): wall-clock boundaries, staggered per device, several intervals per
device, and the availability state machine with its back-off probe.

Ticks fall on `k * interval + offset` in UTC, so a 60 s energy counter is read at the same
second every minute on every gateway, and the fast points coincide with it. The offset spreads
devices over the interval so 200 devices do not all fire in the same millisecond. After a late
cycle or a suspended VM the next tick is computed from the current time: missed ticks are
skipped, never replayed in a burst.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

NS = 1_000_000_000


def stagger_offset_ns(key: str, interval_ns: int, spread_ns: int | None = None) -> int:
    """A stable offset in [0, min(interval, spread)) for `key` (a device id)."""
    window = min(interval_ns, spread_ns) if spread_ns else interval_ns
    return (zlib.crc32(key.encode()) * 2654435761 % (1 << 32)) * window >> 32


def next_tick(now_ns: int, intervals_ns: Iterable[int], offset_ns: int) -> tuple[int, set[int]]:
    """The next boundary strictly after `now_ns` and the intervals due at it."""
    best: int | None = None
    due: set[int] = set()
    for interval in set(intervals_ns):
        k = (now_ns - offset_ns) // interval + 1
        t = k * interval + offset_ns
        if best is None or t < best:
            best, due = t, {interval}
        elif t == best:
            due.add(interval)
    if best is None:
        raise ValueError("no intervals")
    return best, due


class DeviceState(StrEnum):
    ONLINE = "online"
    UNAVAILABLE = "unavailable"


@dataclass
class Availability:
    """N consecutive unanswered cycles make a device unavailable; while unavailable it is only
    probed, at a back-off interval doubling from `probe_min_s` to `probe_max_s`; one answer
    brings it back. `record` returns the new state on a transition only (log it once)."""

    fail_after: int = 3
    probe_min_s: float = 5.0
    probe_max_s: float = 300.0
    state: DeviceState = DeviceState.ONLINE
    failures: int = 0
    next_probe_ns: int = 0
    _probe_s: float = 0.0

    def record(self, answered: bool, now_ns: int) -> DeviceState | None:
        if answered:
            self.failures = 0
            self._probe_s = 0.0
            if self.state is DeviceState.UNAVAILABLE:
                self.state = DeviceState.ONLINE
                return self.state
            return None
        self.failures += 1
        if self.state is DeviceState.UNAVAILABLE:
            self._probe_s = min(self._probe_s * 2, self.probe_max_s)
            self.next_probe_ns = now_ns + int(self._probe_s * NS)
            return None
        if self.failures >= self.fail_after:
            self.state = DeviceState.UNAVAILABLE
            self._probe_s = self.probe_min_s
            self.next_probe_ns = now_ns + int(self._probe_s * NS)
            return self.state
        return None

    @property
    def available(self) -> bool:
        return self.state is DeviceState.ONLINE
