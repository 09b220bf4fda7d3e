"""Rate limits, with time passed in (pure): per-device command rate and per-point rate of change.

`CommandRate` caps how many commands one device accepts in a sliding minute (a stuck
automation must not hammer a relay). `ChangeWindow` enforces a point's `max_rate_per_min`:
the change from the value the point had before the first write of the last minute may not
exceed the limit, so a burst of small steps cannot add up to a large jump.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Final

from peakline_core.control.errors import CommandRejected

MINUTE_NS: Final = 60_000_000_000


@dataclass
class CommandRate:
    """Sliding-window limit of `max_per_min` commands per key (device id)."""

    max_per_min: int = 30
    _seen: dict[str, deque[int]] = field(default_factory=dict)

    def admit(self, key: str, now_ns: int) -> None:
        """Count one command for `key` at `now_ns` (UTC ns); raise `rate_limited` when full."""
        times = self._seen.setdefault(key, deque())
        while times and times[0] <= now_ns - MINUTE_NS:
            times.popleft()
        if len(times) >= self.max_per_min:
            raise CommandRejected(
                "rate_limited", f"{key}: more than {self.max_per_min} commands in a minute"
            )
        times.append(now_ns)


@dataclass
class ChangeWindow:
    """Writes per point over the last minute: (ts UTC ns, value before the write)."""

    _writes: dict[tuple[str, str], deque[tuple[int, float]]] = field(default_factory=dict)

    def anchor(self, device: str, point: str, now_ns: int, current: float) -> float:
        """The value a new write's change is measured from: the value before the earliest
        write of the last minute, or `current` when there was none."""
        writes = self._writes.get((device, point))
        if not writes:
            return current
        while writes and writes[0][0] <= now_ns - MINUTE_NS:
            writes.popleft()
        return writes[0][1] if writes else current

    def record(self, device: str, point: str, now_ns: int, before: float) -> None:
        """Remember that the point held `before` when it was written at `now_ns`."""
        self._writes.setdefault((device, point), deque()).append((now_ns, before))
