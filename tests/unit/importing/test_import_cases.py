"""The import parsers against the files in tests/cases/import/: a 15-minute utility export
across New York's November fall-back, an hourly BMS register log in MWh with offsets across
Berlin's, an hourly BMS Excel export in Wh with naive Berlin times across the same night,
24 bills of uneven periods, and a file of bad rows. Expected figures are in each
case's `.expected.json`, computed when the files were written, not by the parser."""

from __future__ import annotations

import csv
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from peakline_core.importing import (
    BillSpec,
    ImportSpecError,
    IntervalSpec,
    parse_bills,
    parse_interval,
)
from peakline_core.importing.timestamps import LocalTimes, zone
from peakline_core.importing.units import factor, unit_in_header
from peakline_store.importing import read_table

CASES = Path(__file__).resolve().parents[2] / "cases" / "import"
S = 1_000_000_000


def table(name: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The file as the CLI reads it, via the standard csv module (line = 1-based)."""
    text = (CASES / name).read_text()
    delim = ";" if name.startswith("bms") else ","
    rows = list(csv.reader(text.splitlines(), delimiter=delim))
    return rows[0], [(i + 2, r) for i, r in enumerate(rows[1:])]


def expected(name: str) -> dict:
    return json.loads((CASES / name).read_text())


def iso_ns(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()) * S


def test_utility_export_across_the_fall_back_hour() -> None:
    want = expected("utility_15min_dst.expected.json")
    res = parse_interval(*table("utility_15min_dst.csv"), IntervalSpec(timezone="America/New_York"))
    assert res.errors == []
    assert res.interval_s == want["interval_s"]
    assert len(res.rows) == want["rows"]  # 96 + 100: November 2nd has 25 hours
    assert res.span == (iso_ns(want["from"]), iso_ns(want["to"]))
    assert res.total == pytest.approx(want["total_kwh"], abs=1e-9)
    starts = [r.start_ns for r in res.rows]
    assert all(b - a == 900 * S for a, b in itertools.pairwise(starts))
    # the two 01:00 local rows (lines 102 and 106) are an hour apart in UTC, in file order
    by_line = {r.line: r.start_ns for r in res.rows}
    assert by_line[106] - by_line[102] == 3600 * S
    assert by_line[102] == iso_ns("2025-11-02T05:00:00Z")


def test_bms_register_log_in_mwh_with_offsets() -> None:
    want = expected("bms_hourly_mwh.expected.json")
    res = parse_interval(*table("bms_hourly_mwh.csv"), IntervalSpec(kind="register"))
    assert res.errors == []
    assert res.unit == "mwh" and res.interval_s == 3600
    assert len(res.rows) == want["rows"]
    assert res.span == (iso_ns(want["from"]), iso_ns(want["to"]))
    assert res.total == pytest.approx(want["total_kwh"], rel=1e-12)
    first = res.rows[0]  # 1234.5425 - 1234.5000 MWh
    assert first.value == pytest.approx(42.5, abs=1e-6)


def test_bills_spread_pro_rata_over_their_days() -> None:
    want = expected("bills_24_months.expected.json")
    res, bills = parse_bills(*table("bills_24_months.csv"), BillSpec(timezone="America/New_York"))
    assert res.errors == [] and len(bills) == want["bills"]
    assert len(res.rows) == want["days"]
    assert res.total == pytest.approx(want["total_kwh"], rel=1e-12)
    assert all(r.estimated for r in res.rows)
    ny = zone("America/New_York")
    lo = int(datetime.fromisoformat(want["from_date"]).replace(tzinfo=ny).timestamp()) * S
    hi = int(datetime.fromisoformat(want["to_date_exclusive"]).replace(tzinfo=ny).timestamp()) * S
    assert res.span == (lo, hi)
    for bill in bills:  # each bill's days sum to it exactly, and are equal shares
        days = [r for r in res.rows if r.line == bill.line]
        assert len(days) == (bill.end - bill.start).days + 1
        assert sum(r.value for r in days) == pytest.approx(bill.quantity, abs=1e-9)
        assert days[0].value == pytest.approx(bill.quantity / len(days))
    # line 2: 01/04/2023-02/03/2023, "5,100.0" kWh over 31 days
    assert bills[0].quantity == 5100.0 and bills[0].cost == 724.20
    # a 23-hour day (2024-03-10, spring forward) is covered for 23 hours
    dst = next(r for r in res.rows if r.start_ns == iso_ns("2024-03-10T05:00:00Z"))
    assert dst.length_ns == 23 * 3600 * S


def test_every_bad_row_is_reported_with_its_line_and_column() -> None:
    want = expected("bad_rows.expected.json")
    res = parse_interval(*table("bad_rows.csv"), IntervalSpec(timezone=want["timezone"]))
    assert [{"line": e.line, "column": e.column} for e in res.errors] == want["errors"]
    assert len(res.rows) == want["rows"]
    assert res.total == pytest.approx(want["total_kwh"])
    gap = next(e for e in res.errors if e.line == 12)
    assert "spring-forward" in gap.expected


def test_naive_times_without_a_zone_are_refused_for_the_file() -> None:
    with pytest.raises(ImportSpecError, match="--timezone"):
        parse_interval(*table("utility_15min_dst.csv"), IntervalSpec())


def test_an_interval_the_data_contradicts_is_refused() -> None:
    with pytest.raises(ImportSpecError, match="900 s apart"):
        parse_interval(
            *table("utility_15min_dst.csv"),
            IntervalSpec(timezone="America/New_York", interval_s=3600),
        )


def test_a_missing_column_names_the_columns_there_are() -> None:
    with pytest.raises(ImportSpecError, match="no column 'Usage'"):
        parse_interval(
            *table("bad_rows.csv"),
            IntervalSpec(columns={"ts": "Interval Start", "value": "Usage"}, timezone="UTC"),
        )


def test_units_known_answers() -> None:
    assert factor("MWh", "kWh") == 1000.0
    assert factor("Wh", "kWh") == 0.001
    assert factor("GJ", "kWh") == pytest.approx(277.7777778)
    assert factor("ccf", "m3") == pytest.approx(2.83168)
    with pytest.raises(ImportSpecError, match="do not mix"):
        factor("m3", "kWh")
    with pytest.raises(ImportSpecError, match="unknown unit"):
        factor("furlong", "kWh")
    assert unit_in_header("Usage (kWh)") == "kwh"
    assert unit_in_header("Main meter energy [MWh]") == "mwh"
    assert unit_in_header("Gas [m³]") == "m3"
    assert unit_in_header("Reading") is None


def test_local_times_fall_back_by_order_and_refuse_a_third() -> None:
    local = LocalTimes(zone("America/New_York"))  # type: ignore[arg-type]
    t = datetime(2025, 11, 2, 1, 30)
    assert local.to_utc(t) == datetime(2025, 11, 2, 5, 30, tzinfo=UTC)
    assert local.to_utc(t) == datetime(2025, 11, 2, 6, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="at most twice"):
        local.to_utc(t)
    with pytest.raises(ValueError, match="spring-forward"):
        local.to_utc(datetime(2025, 3, 9, 2, 0))


def test_excel_bms_export_in_wh_across_berlin_fall_back() -> None:
    want = expected("bms_hourly_wh.expected.json")
    header, rows = read_table("bms_hourly_wh.xlsx", (CASES / "bms_hourly_wh.xlsx").read_bytes())
    spec = IntervalSpec(columns={"ts": "Zeitstempel"}, timezone=want["timezone"])
    res = parse_interval(header, rows, spec)
    assert res.errors == [] and res.unit == "wh" and res.interval_s == want["interval_s"]
    assert len(res.rows) == want["rows"]
    assert res.span == (iso_ns(want["from"]), iso_ns(want["to"]))
    assert res.total == pytest.approx(want["total_kwh"], rel=1e-12)
    # the two 02:00 rows (lines 4 and 5): CEST then CET, an hour apart
    by_line = {r.line: r.start_ns for r in res.rows}
    assert by_line[4] == iso_ns("2025-10-26T00:00:00Z")
    assert by_line[5] - by_line[4] == 3600 * S


def test_a_broken_excel_file_is_refused_with_its_name() -> None:
    with pytest.raises(ImportSpecError, match=r"bad\.xlsx: not a readable"):
        read_table("bad.xlsx", b"PK\x03\x04 not really a zip")


def test_a_single_row_needs_its_interval_given() -> None:
    header, rows = ["Interval Start", "kWh"], [(2, ["2025-01-01T00:00Z", "1.5"])]
    with pytest.raises(ImportSpecError, match="--interval"):
        parse_interval(header, rows, IntervalSpec())
    res = parse_interval(header, rows, IntervalSpec(interval_s=900))
    assert [(r.length_ns, r.value) for r in res.rows] == [(900 * S, 1.5)]
