"""UTC calendar arithmetic for roll-ups: hour, day and month starts, and range tiling.

Roll-ups are stored per UTC hour (`energy_1h`), day (`energy_1d`) and calendar month
(`energy_1mo`); `tiles` cuts any range into the coarsest of them that cover it exactly, so a
year's report reads a dozen monthly rows per site and a few dozen daily ones at the ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

NS: Final = 1_000_000_000
HOUR: Final = 3600 * NS
DAY: Final = 86400 * NS

Resolution = Literal["1m", "1h", "1d", "1mo"]


def month_floor(ns: int) -> int:
    """The start (UTC ns) of the calendar month holding `ns`."""
    d = datetime.fromtimestamp(ns // NS, tz=UTC)
    return int(datetime(d.year, d.month, 1, tzinfo=UTC).timestamp()) * NS


def month_after(ns: int) -> int:
    """The start of the calendar month after the one holding `ns`."""
    d = datetime.fromtimestamp(ns // NS, tz=UTC)
    year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp()) * NS


def month_ceil(ns: int) -> int:
    """`ns` when it is a month start, else the next month start."""
    floor = month_floor(ns)
    return floor if floor == ns else month_after(ns)


def tiles(start: int, end: int) -> list[tuple[Resolution, int, int]]:
    """(resolution, lo, hi) pieces tiling [start, end), coarsest inside: minutes at the ends,
    then whole hours, whole days, and whole calendar months in the middle."""
    if end <= start:
        return []
    h0 = -(-start // HOUR) * HOUR
    h1 = end // HOUR * HOUR
    if h0 >= h1:
        return [("1m", start, end)]
    out: list[tuple[Resolution, int, int]] = [("1m", start, h0)] if start < h0 else []
    d0 = -(-h0 // DAY) * DAY
    d1 = h1 // DAY * DAY
    if d0 < d1:
        if h0 < d0:
            out.append(("1h", h0, d0))
        m0, m1 = month_ceil(d0), month_floor(d1)
        if m0 < m1:
            if d0 < m0:
                out.append(("1d", d0, m0))
            out.append(("1mo", m0, m1))
            if m1 < d1:
                out.append(("1d", m1, d1))
        else:
            out.append(("1d", d0, d1))
        if d1 < h1:
            out.append(("1h", d1, h1))
    else:
        out.append(("1h", h0, h1))
    if h1 < end:
        out.append(("1m", h1, end))
    return out
