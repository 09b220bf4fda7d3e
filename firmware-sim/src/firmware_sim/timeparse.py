"""Parsing of scenario times: durations ("90s", "15m", "2h", "1d", plain seconds) and UTC
instants (ISO 8601), all to integer nanoseconds."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from firmware_sim.errors import ScenarioError

NS = 1_000_000_000
_UNITS = {"ms": NS // 1000, "s": NS, "m": 60 * NS, "h": 3600 * NS, "d": 86400 * NS}
_DURATION = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def duration_ns(value: str | float | int) -> int:
    """ "15m" -> 900e9; a bare number is seconds."""
    if isinstance(value, int | float):
        return round(float(value) * NS)
    match = _DURATION.match(value)
    if match is None:
        raise ScenarioError(f"not a duration: {value!r} (use e.g. 90s, 15m, 2h, 1d)")
    return round(float(match.group(1)) * _UNITS[match.group(2) or "s"])


def instant_ns(value: str | datetime | int) -> int:
    """UTC ns from an ISO 8601 string (naive means UTC), a datetime or an int of ns."""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ScenarioError(f"not an ISO 8601 instant: {value!r}") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp()) * NS + value.microsecond * 1000


def offset_or_instant_ns(value: str | datetime | int | float, start_ns: int) -> int:
    """A fault time: an offset from the scenario start ("2h") or an absolute instant."""
    if isinstance(value, datetime):
        return instant_ns(value)
    if isinstance(value, str) and ("T" in value or value.count("-") >= 2):
        return instant_ns(value)
    return start_ns + duration_ns(value)
