"""Time ranges and aggregation windows as the API accepts them (pure, no clock reads).

Times are ISO 8601 (`2025-03-01T08:00:00Z`, `2025-03-01`; naive means UTC) or relative to
now: `now`, `-15m`, `now-1d`, `-2w`. Windows are `<n><unit>` with unit s, m, h, d, w or mo
(a month is 30 days: windows are fixed-length buckets aligned to the epoch, like InfluxQL's
GROUP BY time()).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

from peakline_api.errors import InvalidQuery

NS: Final = 1_000_000_000
UNIT_NS: Final = {
    "s": NS,
    "m": 60 * NS,
    "h": 3600 * NS,
    "d": 86400 * NS,
    "w": 7 * 86400 * NS,
    "mo": 30 * 86400 * NS,
}
MIN_WINDOW_NS: Final = 60 * NS
"""The smallest aggregation window (1 minute), as the issue asks: 1m ... 1mo."""
MAX_WINDOW_NS: Final = UNIT_NS["mo"]
LADDER: Final = ("1m", "5m", "15m", "1h", "6h", "1d", "1w", "1mo")
"""Windows automatic downsampling picks from, smallest first."""
MAX_RANGE_NS: Final = 5 * 366 * 86400 * NS
EPOCH_MAX_NS: Final = 4_102_444_800 * NS  # 2100-01-01: far enough, and well inside int64

_RELATIVE = re.compile(r"^(?:now)?(?:([+-])(\d{1,9})(s|m|h|d|w|mo))?$")
_WINDOW = re.compile(r"^(\d{1,6})(s|m|h|d|w|mo)$")


class TimeSpecError(InvalidQuery, ValueError):
    """A time or window the API cannot understand; the message says what was expected."""


def parse_time(text: str, now_ns: int) -> int:
    """UTC ns for an ISO 8601 or relative time (`now`, `-1h`, `now-7d`)."""
    text = text.strip()
    if not text or len(text) > 64:
        raise TimeSpecError("expected ISO 8601 (2025-03-01T08:00:00Z) or relative (-1h, now-7d)")
    m = _RELATIVE.fullmatch(text)
    if m and (text.startswith("now") or m.group(1)):
        if m.group(1) is None:
            return now_ns
        delta = int(m.group(2)) * UNIT_NS[m.group(3)]
        ns = now_ns - delta if m.group(1) == "-" else now_ns + delta
    else:
        try:
            dt = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise TimeSpecError(
                f"{text!r} is neither ISO 8601 (2025-03-01T08:00:00Z) nor relative (-1h, now-7d)"
            ) from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        ns = (
            int((dt - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * NS
            + dt.microsecond * 1000
        )
    if not 0 <= ns <= EPOCH_MAX_NS:
        raise TimeSpecError(f"{text!r} is outside 1970..2100")
    return ns


def parse_range(
    start: str | None, end: str | None, now_ns: int, default: str = "-1h"
) -> tuple[int, int]:
    """(start, end) in UTC ns; end defaults to now, start to `default` before now."""
    end_ns = parse_time(end, now_ns) if end else now_ns
    start_ns = parse_time(start or default, now_ns)
    if start_ns >= end_ns:
        raise TimeSpecError("start must be before end")
    if end_ns - start_ns > MAX_RANGE_NS:
        raise TimeSpecError("a range may span at most 5 years")
    return start_ns, end_ns


def parse_window(text: str) -> int:
    """Window length in ns, between 1 minute and 1 month."""
    m = _WINDOW.fullmatch(text.strip())
    if m is None:
        raise TimeSpecError(f"window {text!r}: expected <n><unit>, unit s/m/h/d/w/mo (e.g. 5m)")
    ns = int(m.group(1)) * UNIT_NS[m.group(2)]
    if not MIN_WINDOW_NS <= ns <= MAX_WINDOW_NS:
        raise TimeSpecError(f"window {text!r}: must be between 1m and 1mo")
    return ns


def auto_window(
    start_ns: int, end_ns: int, max_points: int, sample_ns: int
) -> tuple[str, int] | None:
    """The smallest ladder window that keeps a series at or under `max_points` buckets.

    None when raw points are fine: `sample_ns` is the shortest poll interval of the series
    asked for, so `span / sample_ns` bounds the raw point count.
    """
    span = end_ns - start_ns
    if span // max(sample_ns, 1) <= max_points:
        return None
    for name in LADDER:
        ns = parse_window(name)
        if span // ns <= max_points:
            return name, ns
    return LADDER[-1], parse_window(LADDER[-1])


def iso(ns: int) -> str:
    """UTC ns as ISO 8601 with a Z (millisecond precision)."""
    return (
        datetime.fromtimestamp(ns / NS, tz=UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
