"""Files to a header and `(line, cells)` rows: CSV (delimiter sniffed among , ; tab) and
Excel .xlsx (the first sheet; openpyxl, read-only). Excel cells become the text a CSV
export would hold: a date-time cell `2025-10-26 02:00:00` (Excel has no time zones: naive,
so the import needs a time zone), a number its shortest repr, an empty cell ""."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from datetime import date, datetime, time

import openpyxl

from peakline_core.importing import ImportSpecError


def read_table(name: str, data: bytes) -> tuple[list[str], list[tuple[int, Sequence[str]]]]:
    """The header (first non-blank row) and the rows after it with their 1-based line
    numbers. Excel files are refused with a reason (openpyxl is not a dependency yet)."""
    if name.lower().endswith((".xlsx", ".xlsm")):
        return _xlsx(name, data)
    if name.lower().endswith(".xls"):
        raise ImportSpecError(f"{name}: the old .xls format is not read: save it as .xlsx or CSV")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252")  # utility portals on Windows export in the ANSI code page
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    header: list[str] | None = None
    rows: list[tuple[int, Sequence[str]]] = []
    line = 0
    for cells in reader:
        line_no = line + 1
        line = reader.line_num
        if header is None:
            if any(c.strip() for c in cells):
                header = [c.strip() for c in cells]
            continue
        rows.append((line_no, cells))
    if header is None:
        raise ImportSpecError(f"{name}: no header row")
    return header, rows


def _xlsx(name: str, data: bytes) -> tuple[list[str], list[tuple[int, Sequence[str]]]]:
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportSpecError(f"{name}: not a readable .xlsx file ({exc})") from exc
    try:
        sheet = book.worksheets[0]
        header: list[str] | None = None
        rows: list[tuple[int, Sequence[str]]] = []
        for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell(v) for v in values]
            if header is None:
                if any(c.strip() for c in cells):
                    header = [c.strip() for c in cells]
                continue
            rows.append((line, cells))
    finally:
        book.close()
    if header is None:
        raise ImportSpecError(f"{name}: no header row")
    return header, rows


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.replace(microsecond=0).isoformat(sep=" ")
    if isinstance(v, date | time):
        return v.isoformat()
    if isinstance(v, float):
        return repr(v)
    return str(v)
