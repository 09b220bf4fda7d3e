"""Interval exports (utility 15-minute data, BMS hourly logs) to energy per interval.

A file is a header and rows; the mapping names the timestamp column (`ts`) and the value
column (`value`), else they are inferred (a header saying time/date/interval, and one saying
a unit or usage/energy/consumption). Values are either **interval energy** (kWh in each
interval, `kind="interval"`) or **register readings** (a cumulative meter index,
`kind="register"`: each interval gets the difference to the previous reading). Timestamps
label the interval's start (`label="start"`) or end (`label="end"`, common in utility
exports: "interval ending 00:15").

The interval length is inferred as the most common step between consecutive rows and must be
5, 15, 30 or 60 minutes; a length given in the spec must agree. A row off that grid, a
duplicate instant, a blank or negative value or a falling register is a `RowError`; a gap is
allowed (missing intervals are counted in the notes, not invented).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from peakline_core.importing import timestamps, units
from peakline_core.importing.columns import TIME_COLUMN, resolve
from peakline_core.importing.errors import ImportSpecError, RowError
from peakline_core.importing.result import ImportedRow, ParseResult
from peakline_core.importing.values import number

NS = 1_000_000_000
INTERVALS_S = (300, 900, 1800, 3600)
_DATE_ONLY = re.compile(r"^\s*(date|day|read date|usage date)\s*$", re.I)
_TIME_ONLY = re.compile(r"^\s*(start )?time\s*$", re.I)
_VALUE_HINT = re.compile(r"wh|mwh|gj|m3|m³|usage|energy|consumption|value|reading|kwh", re.I)


@dataclass(frozen=True, slots=True)
class IntervalSpec:
    """How to read an interval file. `columns` maps roles `ts` (or `date` and `time`),
    `value` to header names;
    `unit` is the file's unit (else read from the value header, e.g. "Usage (kWh)");
    `stored_unit` the flow's unit (kWh, or m3 for a gas meter); `timezone` an IANA name for
    naive local times (an offset in the text wins)."""

    columns: dict[str, str] | None = None
    unit: str | None = None
    stored_unit: str = "kwh"
    timezone: str | None = None
    ts_format: str | None = None
    kind: Literal["interval", "register"] = "interval"
    label: Literal["start", "end"] = "start"
    interval_s: int | None = None


def parse_interval(
    header: Sequence[str], rows: Iterable[tuple[int, Sequence[str]]], spec: IntervalSpec
) -> ParseResult:
    """Parse `(line, cells)` rows under `header` in one piece, keeping the rows; raises
    `ImportSpecError` for a file-level mistake, returns every bad row as a `RowError`."""
    parser = IntervalParser(header, spec)
    parser.result.add(parser.feed(rows))
    parser.result.add(parser.finish())
    return parser.result


class IntervalParser:
    """An interval file parsed a chunk of rows at a time (memory bounded by the chunk).

    `feed` takes the next `(line, cells)` rows and returns the valid rows it can settle,
    in time order; `finish` returns the rest and the notes. `result` collects the errors
    (each with its line in the file) and what was inferred; the caller counts the rows it
    keeps with `result.add`. State carried from chunk to chunk: the last kept instant (so a
    duplicate, an off-grid time or a falling register across a chunk boundary is caught as
    within one), the fall-back hour's occurrences, and the interval length, inferred from
    the first chunk holding two instants. Rows are sorted within a chunk; a row earlier
    than a previous chunk's last is refused (a newest-first file longer than one chunk
    must be sorted first)."""

    def __init__(self, header: Sequence[str], spec: IntervalSpec) -> None:
        mapping = spec.columns or {}
        self.split = "date" in mapping or (
            "ts" not in mapping
            and any(_DATE_ONLY.match(h) for h in header)
            and any(_TIME_ONLY.match(h) for h in header)
        )
        if self.split:  # a date column and a time column ("DATE", "START TIME": Green Button)
            cols = resolve(
                header,
                mapping,
                ("date", "time", "value"),
                {"date": _DATE_ONLY, "time": _TIME_ONLY, "value": _VALUE_HINT},
            )
        else:
            cols = resolve(
                header, mapping, ("ts", "value"), {"ts": TIME_COLUMN, "value": _VALUE_HINT}
            )
        self.cols = cols
        self.width = max(cols.values())
        self.n_header = len(header)
        self.ts_name = header[cols["time"]] if self.split else header[cols["ts"]]
        self.v_name = header[cols["value"]]
        unit = spec.unit or units.unit_in_header(self.v_name)
        if unit is None:
            raise ImportSpecError(f"the value column {self.v_name!r} names no unit: give --unit")
        self.scale = units.factor(unit, spec.stored_unit)
        tz = timestamps.zone(spec.timezone)
        self.local = timestamps.LocalTimes(tz) if tz is not None else None
        self.spec = spec
        self.result = ParseResult(
            unit=units.normalise(unit), stored_unit=units.normalise(spec.stored_unit)
        )
        self.step: int | None = None  # ns; 0 when unknown at the end (no two instants)
        self.last: tuple[int, float, int] | None = None  # the last kept (utc ns, value, line)
        self.held: list[tuple[int, float, int]] = []  # points waiting for the interval
        self.missing = 0

    def feed(self, rows: Iterable[tuple[int, Sequence[str]]]) -> list[ImportedRow]:
        """The valid rows of the next chunk that can be settled now, in time order."""
        return self._settle(self._points(rows), final=False)

    def finish(self) -> list[ImportedRow]:
        """The rows still held (a file whose first chunks held one instant), and the notes."""
        out = self._settle([], final=True)
        if self.step is None:
            self.step = 0
        self.result.interval_s = self.step // NS if self.step else self.spec.interval_s
        if self.missing:
            self.result.notes.append(
                f"{self.missing} intervals missing between rows (gaps are left empty)"
            )
        self.result.errors.sort(key=lambda e: e.line)
        return out

    def _points(self, rows: Iterable[tuple[int, Sequence[str]]]) -> list[tuple[int, float, int]]:
        cols, spec, errors = self.cols, self.spec, self.result.errors
        points: list[tuple[int, float, int]] = []  # (utc ns, value, line)
        for line, cells in rows:
            if not any(c.strip() for c in cells):
                continue
            if len(cells) <= self.width:
                errors.append(
                    RowError(line, self.v_name, f"{self.n_header} columns", f"{len(cells)}")
                )
                continue
            raw_v = cells[cols["value"]]
            raw_ts = (
                f"{cells[cols['date']].strip()} {cells[cols['time']].strip()}"
                if self.split
                else cells[cols["ts"]]
            )
            try:
                dt = timestamps.parse_datetime(raw_ts, spec.ts_format)
            except ValueError as exc:
                expected = f"a time as {spec.ts_format}" if spec.ts_format else str(exc)
                errors.append(RowError(line, self.ts_name, expected, raw_ts))
                continue
            if dt.tzinfo is None:
                if self.local is None:
                    raise ImportSpecError(
                        f"line {line}: {raw_ts!r} has no UTC offset: give the "
                        "file's time zone (--timezone America/New_York)"
                    )
                try:
                    dt = self.local.to_utc(dt)
                except ValueError as exc:
                    errors.append(RowError(line, self.ts_name, str(exc), raw_ts))
                    continue
            try:
                value = number(raw_v)
            except ValueError:
                errors.append(RowError(line, self.v_name, "a number", raw_v))
                continue
            if value < 0:
                errors.append(RowError(line, self.v_name, "a value of at least 0", raw_v))
                continue
            points.append((timestamps.to_ns(dt), value * self.scale, line))
        return points

    def _settle(self, points: list[tuple[int, float, int]], final: bool) -> list[ImportedRow]:
        points = self.held + points
        self.held = []
        points.sort(key=lambda p: p[0])  # stable: file order breaks no ties (duplicates refused)
        if self.step is None:
            if not final and len({p[0] for p in points}) < 2:
                self.held = points  # no step to infer yet: wait for the next chunk
                return []
            self.step = _interval_ns(points, self.spec.interval_s)
        step, errors, ts_name = self.step, self.result.errors, self.ts_name
        out: list[ImportedRow] = []
        shift = step if self.spec.label == "end" else 0
        register = self.spec.kind == "register"
        for p in points:
            last = self.last
            if last is not None:
                if p[0] < last[0]:
                    errors.append(
                        RowError(
                            p[2], ts_name, f"a time after line {last[2]}'s (rows in time order)"
                        )
                    )
                    continue
                if p[0] == last[0]:
                    errors.append(
                        RowError(
                            p[2], ts_name, f"one row per instant (line {last[2]} has the same time)"
                        )
                    )
                    continue
                if step and (p[0] - last[0]) % step:
                    errors.append(
                        RowError(p[2], ts_name, f"a time on the {step // NS // 60}-minute grid")
                    )
                    continue
            self.last = p
            if not register:
                if last is not None and step:
                    self.missing += (p[0] - last[0]) // step - 1
                out.append(ImportedRow(p[0] - shift, step, p[1], p[2]))
            elif last is not None:
                (t0, v0, _), (t1, v1, line) = last, p
                if v1 < v0:
                    errors.append(
                        RowError(
                            line,
                            self.v_name,
                            f"a register reading of at least {v0 / self.scale:g} "
                            "(the previous one)",
                            f"{v1 / self.scale:g}",
                        )
                    )
                    continue
                if step:
                    self.missing += (t1 - t0) // step - 1
                out.append(ImportedRow(t0, t1 - t0, v1 - v0, line))
        return out


def _interval_ns(points: Sequence[tuple[int, float, int]], given_s: int | None) -> int:
    """The most common step between consecutive instants, checked against `given_s`."""
    steps = Counter(b[0] - a[0] for a, b in itertools.pairwise(points) if b[0] > a[0])
    if not steps:
        if points and given_s is None:
            raise ImportSpecError("one instant only: give the interval (--interval 15)")
        return (given_s or 0) * NS
    step = steps.most_common(1)[0][0]
    if given_s is not None:
        if step != given_s * NS:
            raise ImportSpecError(
                f"the interval given is {given_s} s but the rows are {step // NS} s apart"
            )
        return step
    if step // NS not in INTERVALS_S or step % NS:
        raise ImportSpecError(
            f"rows are {step / NS:g} s apart: expected 5, 15, 30 or 60 "
            "minutes (give --interval to confirm another)"
        )
    return step
