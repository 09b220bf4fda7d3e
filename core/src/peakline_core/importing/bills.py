"""Utility bills (period start, end, quantity, cost) spread over days.

A bill says how much was used over a period that rarely matches a calendar month. It is
spread **pro rata by days**: each local day of the period gets `quantity / days` (the last
day takes the rounding remainder, so the days sum to the bill exactly), stored at the day's
local midnight with the day's length as coverage, wholly estimated. The period's end is
inclusive by default (utility bills print "01/05/2025 - 02/03/2025" for 30 days; the next
bill then starts on 02/04); `end_inclusive=False` reads meter-read dates where the next
period starts on the previous one's end. Overlapping periods are row errors (the later
row); a gap between bills is left empty and counted in the notes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from peakline_core.importing import timestamps, units
from peakline_core.importing.columns import resolve
from peakline_core.importing.errors import ImportSpecError, RowError
from peakline_core.importing.result import ImportedRow, ParseResult
from peakline_core.importing.values import number

_GUESS = {
    "start": re.compile(r"start|from|begin", re.I),
    "end": re.compile(r"end|to\b|through|thru", re.I),
    "quantity": re.compile(r"kwh|wh|m3|m³|therm|gj|usage|consumption|quantity", re.I),
    "cost": re.compile(r"cost|amount|charge|total|\$|€|¥", re.I),
}


@dataclass(frozen=True, slots=True)
class Bill:
    line: int
    start: date
    end: date  # inclusive
    quantity: float  # stored unit
    cost: float | None


@dataclass(frozen=True, slots=True)
class BillSpec:
    """How to read a bills file: `columns` maps `start`, `end`, `quantity`, `cost`
    (optional) to headers; `timezone` is the site's (days start at its local midnight)."""

    columns: dict[str, str] | None = None
    unit: str | None = None
    stored_unit: str = "kwh"
    timezone: str | None = None
    date_format: str | None = None
    end_inclusive: bool = True


def parse_bills(
    header: Sequence[str], rows: Iterable[tuple[int, Sequence[str]]], spec: BillSpec
) -> tuple[ParseResult, list[Bill]]:
    """Day rows of the valid bills, every bad row as a `RowError`, and the bills themselves."""
    cols = resolve(header, spec.columns or {}, ("start", "end", "quantity"), _GUESS)
    q_name = header[cols["quantity"]]
    unit = spec.unit or units.unit_in_header(q_name)
    if unit is None:
        raise ImportSpecError(f"the quantity column {q_name!r} names no unit: give --unit")
    scale = units.factor(unit, spec.stored_unit)
    tz = timestamps.zone(spec.timezone) or UTC
    out = ParseResult(unit=units.normalise(unit), stored_unit=units.normalise(spec.stored_unit))
    bills: list[Bill] = []
    for line, cells in rows:
        if not any(c.strip() for c in cells):
            continue
        bill = _bill(header, cols, line, cells, spec, scale, out.errors)
        if bill is not None:
            bills.append(bill)
    bills.sort(key=lambda b: b.start)
    kept: list[Bill] = []
    gap_days = 0
    for b in bills:
        if kept and b.start <= kept[-1].end:
            out.errors.append(
                RowError(
                    b.line,
                    header[cols["start"]],
                    f"a period starting after {kept[-1].end} (line {kept[-1].line}'s end)",
                    str(b.start),
                )
            )
            continue
        if kept:
            gap_days += (b.start - kept[-1].end).days - 1
        kept.append(b)
        days = (b.end - b.start).days + 1
        share = b.quantity / days
        for i in range(days):
            day = b.start + timedelta(days=i)
            t0 = timestamps.to_ns(datetime.combine(day, datetime.min.time(), tz))
            t1 = timestamps.to_ns(
                datetime.combine(day + timedelta(days=1), datetime.min.time(), tz)
            )
            value = share if i < days - 1 else b.quantity - share * (days - 1)
            out.add([ImportedRow(t0, t1 - t0, value, b.line, estimated=True)])
    out.interval_s = 86400
    if gap_days:
        out.notes.append(f"{gap_days} days between bills are not covered")
    out.errors.sort(key=lambda e: e.line)
    return out, kept


def _bill(
    header: Sequence[str],
    cols: dict[str, int],
    line: int,
    cells: Sequence[str],
    spec: BillSpec,
    scale: float,
    errors: list[RowError],
) -> Bill | None:
    if len(cells) <= max(cols.values()):
        errors.append(RowError(line, header[-1], f"{len(header)} columns", str(len(cells))))
        return None
    got: dict[str, date] = {}
    for role in ("start", "end"):
        raw = cells[cols[role]]
        try:
            got[role] = timestamps.parse_datetime(raw, spec.date_format).date()
        except ValueError:
            errors.append(
                RowError(line, header[cols[role]], "a date (YYYY-MM-DD or MM/DD/YYYY)", raw)
            )
            return None
    start, end = got["start"], got["end"]
    if not spec.end_inclusive:
        end -= timedelta(days=1)
    if end < start:
        errors.append(RowError(line, header[cols["end"]], f"an end on or after {start}", str(end)))
        return None
    raw_q = cells[cols["quantity"]]
    try:
        q = number(raw_q)
    except ValueError:
        errors.append(RowError(line, header[cols["quantity"]], "a number", raw_q))
        return None
    if q < 0:
        errors.append(RowError(line, header[cols["quantity"]], "a quantity of at least 0", raw_q))
        return None
    cost = None
    if "cost" in cols and cells[cols["cost"]].strip():
        raw_c = cells[cols["cost"]].strip().lstrip("$€¥£")
        try:
            cost = number(raw_c)
        except ValueError:
            errors.append(RowError(line, header[cols["cost"]], "an amount", cells[cols["cost"]]))
            return None
    return Bill(line, start, end, q * scale, cost)
