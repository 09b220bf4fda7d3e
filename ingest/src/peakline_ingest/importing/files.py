"""Files to a header and `(line, cells)` rows: CSV (delimiter sniffed among , ; tab)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from peakline_core.importing import ImportSpecError


def read_table(name: str, data: bytes) -> tuple[list[str], list[tuple[int, Sequence[str]]]]:
    """The header (first non-blank row) and the rows after it with their 1-based line
    numbers. Excel files are refused with a reason (openpyxl is not a dependency yet)."""
    if name.lower().endswith((".xlsx", ".xlsm", ".xls")):
        raise ImportSpecError(f"{name}: Excel files are not read yet: save the sheet as CSV")
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
