"""A file parsed a chunk at a time gives what it gives in one piece: the same rows, errors
(with their lines in the file), notes and interval, whatever the chunk size; state carried
across a chunk boundary (the fall-back hour, the last instant, the previous register
reading) catches what it would catch within a chunk."""

from __future__ import annotations

from pathlib import Path

import pytest

from peakline_core.importing import ImportedRow, IntervalParser, IntervalSpec, parse_interval
from peakline_store.importing import open_table, read_table

CASES = Path(__file__).resolve().parents[2] / "cases" / "import"
NY = IntervalSpec(timezone="America/New_York")
FILES = [
    ("utility_15min_dst.csv", NY),  # the fall-back hour's repeated local times
    ("bms_hourly_mwh.csv", IntervalSpec(kind="register")),
    ("bad_rows.csv", NY),
    ("bms_hourly_wh.xlsx", IntervalSpec(columns={"ts": "Zeitstempel"}, timezone="Europe/Berlin")),
]


def chunked(
    name: str, data: bytes, spec: IntervalSpec, n: int
) -> tuple[list[ImportedRow], IntervalParser, int]:
    rows: list[ImportedRow] = []
    with open_table(name, data) as table:
        parser = IntervalParser(table.header, spec)
        parts = 0
        for part in table.chunks(n):
            rows += parser.feed(part)
            parts += 1
        rows += parser.finish()
    return rows, parser, parts


@pytest.mark.parametrize(("name", "spec"), FILES, ids=[f[0] for f in FILES])
@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_chunks_give_what_the_whole_file_gives(name: str, spec: IntervalSpec, n: int) -> None:
    data = (CASES / name).read_bytes()
    whole = parse_interval(*read_table(name, data), spec)
    rows, parser, parts = chunked(name, data, spec, n)
    assert parts > 1  # the file really was read in several chunks
    assert rows == whole.rows and rows
    assert parser.result.errors == whole.errors
    assert parser.result.notes == whole.notes
    assert parser.result.interval_s == whole.interval_s


def test_bad_rows_in_later_chunks_keep_their_lines() -> None:
    lines = ["Interval Start,Usage (kWh)"]
    for i in range(500):
        h, m = divmod(15 * i, 60)
        lines.append(f"2025-01-{1 + h // 24:02d}T{h % 24:02d}:{m:02d}:00Z,1.5")
    lines[436] = lines[436].replace(",1.5", ",n/a")  # file line 437: chunk 5 of 100 rows
    lines[301] = lines[300]  # line 302 repeats line 301's time, across the chunk boundary
    lines[450] = "2024-12-31T23:00:00Z,1.0"  # line 451: earlier than the rows before it
    data = ("\n".join(lines) + "\n").encode()
    rows, parser, parts = chunked("big.csv", data, IntervalSpec(), 100)
    assert parts == 5
    got = [(e.line, e.column) for e in parser.result.errors]
    assert got == [(302, "Interval Start"), (437, "Usage (kWh)"), (451, "Interval Start")]
    assert "line 301" in parser.result.errors[0].expected
    assert "time order" in parser.result.errors[2].expected
    assert len(rows) == 497 and {r.line for r in rows}.isdisjoint({302, 437, 451})
    # the refused rows' three slots are left empty
    assert parser.result.notes == ["3 intervals missing between rows (gaps are left empty)"]
