"""`calendar.tiles`: any range cut into minutes, hours, days and calendar months that cover it
exactly once, each piece on its own boundaries (reports sum the stored roll-ups of each)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from peakline_core.derive.calendar import (
    DAY,
    HOUR,
    NS,
    month_after,
    month_ceil,
    month_floor,
    signed_tiles,
    tiles,
)

T2020 = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp()) * NS
T2030 = int(datetime(2030, 1, 1, tzinfo=UTC).timestamp()) * NS


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * NS  # type: ignore[misc]


def test_month_arithmetic_across_year_ends_and_leap_february() -> None:
    assert month_floor(ts(2024, 2, 29, 23, 59)) == ts(2024, 2, 1)
    assert month_after(ts(2024, 2, 10)) == ts(2024, 3, 1)
    assert month_after(ts(2025, 12, 31, 23)) == ts(2026, 1, 1)
    assert month_ceil(ts(2026, 1, 1)) == ts(2026, 1, 1)
    assert month_ceil(ts(2026, 1, 1, 0, 0, 1)) == ts(2026, 2, 1)


def test_a_year_to_date_reads_months_then_days_then_hours_then_minutes() -> None:
    got = tiles(ts(2025, 12, 3, 9, 30), ts(2026, 12, 3, 9, 30))
    assert got == [
        ("1m", ts(2025, 12, 3, 9, 30), ts(2025, 12, 3, 10)),
        ("1h", ts(2025, 12, 3, 10), ts(2025, 12, 4)),
        ("1d", ts(2025, 12, 4), ts(2026, 1, 1)),
        ("1mo", ts(2026, 1, 1), ts(2026, 12, 1)),
        ("1d", ts(2026, 12, 1), ts(2026, 12, 3)),
        ("1h", ts(2026, 12, 3), ts(2026, 12, 3, 9)),
        ("1m", ts(2026, 12, 3, 9), ts(2026, 12, 3, 9, 30)),
    ]


@given(
    st.integers(T2020 // NS, T2030 // NS).map(lambda s: s * NS),
    st.integers(0, 800 * 86400).map(lambda s: s * NS),
)
def test_tiles_cover_the_range_once_on_their_own_boundaries(start: int, span: int) -> None:
    end = start + span
    got = tiles(start, end)
    if span == 0:
        assert got == []
        return
    assert got[0][1] == start and got[-1][2] == end
    for (_, _, hi), (_, lo, _) in itertools.pairwise(got):
        assert hi == lo  # contiguous, no overlap
    order = {"1m": 0, "1h": 1, "1d": 2, "1mo": 3}
    levels = [order[r] for r, _, _ in got]
    peak = levels.index(max(levels))
    assert levels[: peak + 1] == sorted(levels[: peak + 1])  # coarser towards the middle
    assert levels[peak:] == sorted(levels[peak:], reverse=True)
    for res, lo, hi in got:
        assert lo < hi
        if res == "1h":
            assert lo % HOUR == 0 and hi % HOUR == 0 and hi - lo < 2 * DAY
        if res == "1d":
            assert lo % DAY == 0 and hi % DAY == 0 and hi - lo < 62 * DAY  # < 2 months
        if res == "1mo":
            assert month_floor(lo) == lo and month_floor(hi) == hi
        if res == "1m":
            assert hi - lo < 2 * HOUR  # one piece when no whole hour fits, else < 1 h


def test_a_rolling_year_reads_its_leading_days_as_a_month_minus_its_first_days() -> None:
    got = signed_tiles(ts(2025, 12, 4, 3, 48), ts(2026, 12, 4, 3, 48))
    assert got == [
        ("1m", ts(2025, 12, 4, 3, 48), ts(2025, 12, 4, 4), 1),  # 12 minutes, not an hour - 48
        ("1h", ts(2025, 12, 4), ts(2025, 12, 4, 4), -1),  # the day minus 4 hours, not 20
        ("1d", ts(2025, 12, 1), ts(2025, 12, 4), -1),  # December minus 3 days, not 28
        ("1mo", ts(2025, 12, 1), ts(2026, 12, 1), 1),
        ("1d", ts(2026, 12, 1), ts(2026, 12, 4), 1),  # the trailing side stays additive
        ("1h", ts(2026, 12, 4), ts(2026, 12, 4, 3), 1),
        ("1m", ts(2026, 12, 4, 3), ts(2026, 12, 4, 3, 48), 1),
    ]
    # a range ending on 1 January (a report's first calendar year) turns its days round too
    assert signed_tiles(ts(2025, 12, 4), ts(2026, 1, 1)) == [
        ("1d", ts(2025, 12, 1), ts(2025, 12, 4), -1),
        ("1mo", ts(2025, 12, 1), ts(2026, 1, 1), 1),
    ]


RES = {"1m": 60 * NS, "1h": HOUR, "1d": DAY}


@given(
    st.integers(T2020 // 60 // NS, T2030 // 60 // NS).map(lambda s: s * 60 * NS),
    st.integers(0, 800 * 1440).map(lambda s: s * 60 * NS),
)
def test_signed_tiles_sum_to_the_range_and_never_read_more_rows(start: int, span: int) -> None:
    end = start + span
    got = signed_tiles(start, end)
    # sweep: the signed pieces cover [start, end) exactly once and nothing outside it
    edges: dict[int, int] = {}
    for res, lo, hi, sign in got:
        assert lo < hi and sign in (1, -1)
        if res == "1mo":
            assert month_floor(lo) == lo and month_floor(hi) == hi
        else:
            assert lo % RES[res] == 0 and hi % RES[res] == 0
        assert lo >= start - 31 * DAY and hi <= end  # nothing after the range's end is read
        edges[lo] = edges.get(lo, 0) + sign
        edges[hi] = edges.get(hi, 0) - sign
    depth, covered = 0, []
    for at in sorted(edges):
        depth += edges[at]
        assert depth in (0, 1)
        covered.append((at, depth))
    spans = [(a, b) for (a, d), (b, _) in itertools.pairwise(covered) if d == 1]
    merged = [s for s in spans if s[0] < s[1]]
    assert (merged[0][0], merged[-1][1]) == (start, end) if span else merged == []
    assert all(b == c for (_, b), (c, _) in itertools.pairwise(merged))

    def rows(pieces: list[tuple[str, int, int]]) -> int:
        return sum(1 if r == "1mo" else (hi - lo) // RES[r] for r, lo, hi in pieces)

    assert rows([(r, lo, hi) for r, lo, hi, _ in got]) <= rows(tiles(start, end))
