"""Timestamps of imported files to UTC ns.

An offset in the text (`2025-11-02T01:15-05:00`, `Z`) wins. A naive local time needs the
file's time zone; in the autumn fall-back hour each local time occurs twice and the rows are
taken in file order (first occurrence = daylight time, second = standard time); a local time
in the spring-forward gap does not exist and is a row error.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from peakline_core.importing.errors import ImportSpecError

NS = 1_000_000_000
FORMATS = (
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%Y/%m/%d %H:%M",
    "%Y-%m-%d",
    "%m/%d/%Y",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def zone(name: str | None) -> tzinfo | None:
    if name is None:
        return None
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ImportSpecError(f"unknown time zone {name!r}: expected an IANA name") from exc


def parse_datetime(text: str, fmt: str | None = None) -> datetime:
    """Parse one timestamp (naive or aware); ValueError names what was expected."""
    s = text.strip()
    if fmt is not None:
        return datetime.strptime(s, fmt)
    try:
        return datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
    except ValueError:
        pass
    for f in FORMATS:
        try:
            return datetime.strptime(s, f)
        except ValueError:
            continue
    raise ValueError("a date and time (ISO 8601, or MM/DD/YYYY HH:MM)")


class LocalTimes:
    """Naive local times to UTC in file order: resolves the fall-back hour by occurrence."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._seen: Counter[datetime] = Counter()

    def to_utc(self, naive: datetime) -> datetime:
        """The UTC instant; ValueError for a time in the spring-forward gap or a third
        occurrence of a fall-back time."""
        first = naive.replace(tzinfo=self.tz, fold=0)
        second = naive.replace(tzinfo=self.tz, fold=1)
        if first.astimezone(UTC).astimezone(self.tz).replace(tzinfo=None) != naive:
            raise ValueError(
                f"a local time that exists in {self.tz} (this one falls in the spring-forward gap)"
            )
        ambiguous = first.utcoffset() != second.utcoffset()
        n = self._seen[naive]
        self._seen[naive] += 1
        if not ambiguous:
            if n:
                raise ValueError("each local time once (a duplicate outside the fall-back hour)")
            return first.astimezone(UTC)
        if n > 1:
            raise ValueError("a fall-back local time at most twice")
        return (first if n == 0 else second).astimezone(UTC)


def to_ns(dt: datetime) -> int:
    """An aware datetime to UTC ns (exact: integer arithmetic)."""
    d = dt.astimezone(UTC) - _EPOCH
    return (d.days * 86400 + d.seconds) * NS + d.microseconds * 1000


def from_ns(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)
