"""UTC calendar arithmetic for roll-ups: hour, day and month starts, and range tiling.

Roll-ups are stored per UTC hour (`energy_1h`), day (`energy_1d`) and calendar month
(`energy_1mo`); `tiles` cuts any range into the coarsest of them that cover it exactly, so a
year's report reads a dozen monthly rows per site and a few dozen daily ones at the ends.
`signed_tiles` reads the leading pieces in fewer rows where it can: the 27 days before a
range's first whole month as that month's row minus its first 3 days.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

NS: Final = 1_000_000_000
HOUR: Final = 3600 * NS
DAY: Final = 86400 * NS

MINUTE: Final = 60 * NS

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


def _floor(res: Resolution, ns: int) -> int:
    """The start of the `res` unit holding `ns`."""
    if res == "1mo":
        return month_floor(ns)
    size = {"1m": MINUTE, "1h": HOUR, "1d": DAY}[res]
    return ns - ns % size


def _rows(res: Resolution, lo: int, hi: int) -> int:
    """Rows per series of resolution `res` (not months) in [lo, hi)."""
    return (hi - lo) // {"1m": MINUTE, "1h": HOUR, "1d": DAY}[res]


def signed_tiles(start: int, end: int) -> list[tuple[Resolution, int, int, int]]:
    """(resolution, lo, hi, sign) pieces whose signed sum is [start, end): `tiles`, except
    that a leading piece is read as the next coarser unit holding it minus that unit's part
    before the range when that reads fewer rows (the 28 days of December before a range's
    1 January: December's row minus its first 3 days; 48 minutes before the first whole
    hour: the hour minus 12).

    Only the leading side is turned round: a unit that holds a leading piece ends at or
    before the range's end, so it lies wholly in the range's past, while the unit holding a
    trailing piece runs past the end (for `now`, into the hour, day or month still being
    derived). A stored coarser row equals the sum of its finer rows (the deriver's
    roll-ups), so both readings give the same figure up to float rounding."""
    pieces = tiles(start, end)
    if not pieces:
        return []
    order = {"1m": 0, "1h": 1, "1d": 2, "1mo": 3}
    levels = [order[r] for r, _, _ in pieces]
    peak = levels.index(max(levels))
    out: list[tuple[Resolution, int, int, int]] = []
    need = start  # where what is left of the leading side begins
    for i in range(peak + 1):
        res, _, hi = pieces[i]
        if res == "1mo":
            out.append((res, need, hi, 1))
            need = hi
            continue
        unit = _COARSER[res]
        floor = _floor(unit, need)
        ceil = floor if floor == need else _after(unit, floor)
        if ceil > hi or _rows(res, floor, need) + 1 >= _rows(res, need, ceil):
            out.append((res, need, hi, 1))
            need = hi
            continue
        if floor < need:
            out.append((res, floor, need, -1))
        if i < peak and pieces[i + 1][0] == unit:
            need = floor  # the next piece reads the whole unit
            continue
        out.append((unit, floor, ceil, 1))
        if ceil < hi:
            out.append((res, ceil, hi, 1))
        need = hi
    out.extend((r, lo, h, 1) for r, lo, h in pieces[peak + 1 :])
    return out


_COARSER: Final[dict[str, Resolution]] = {"1m": "1h", "1h": "1d", "1d": "1mo"}


def _after(res: Resolution, floor: int) -> int:
    """The start of the `res` unit after the one starting at `floor`."""
    if res == "1mo":
        return month_after(floor)
    return floor + {"1h": HOUR, "1d": DAY}[res]
