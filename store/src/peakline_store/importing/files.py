"""Files to a header and `(line, cells)` rows, a chunk at a time: CSV (delimiter sniffed
among , ; tab; UTF-8, else the Windows code page) and Excel .xlsx (the first sheet;
openpyxl in read-only mode, which streams the sheet's XML). Excel cells become the text a
CSV export would hold: a date-time cell `2025-10-26 02:00:00` (Excel has no time zones:
naive, so the import needs a time zone), a number its shortest repr, an empty cell ""."""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import IO

import openpyxl

from peakline_core.importing import ImportSpecError

Rows = list[tuple[int, Sequence[str]]]
CHUNK_ROWS = 50_000
"""Rows per chunk: a chunk's parse, plan and write hold about 30 MB."""


class Table:
    """An open file's header and its rows, read `chunk` rows at a time. `size` and
    `done()` measure progress: bytes for a CSV file, rows for an Excel sheet."""

    def __init__(
        self,
        header: list[str],
        rows: Iterator[tuple[int, Sequence[str]]],
        size: int,
        done: IO[bytes] | None,
    ) -> None:
        self.header = header
        self._rows = rows
        self.size = size
        self._bytes = done
        self._count = 0
        self.text: IO[str] | None = None
        """A CSV file's text layer, closed with the file."""

    def done(self) -> int:
        """Bytes read so far (CSV), or rows (Excel)."""
        return self._bytes.tell() if self._bytes is not None else self._count

    def chunks(self, n: int = CHUNK_ROWS) -> Iterator[Rows]:
        """The rows after the header, `n` at a time, with their 1-based line numbers."""
        part: Rows = []
        for row in self._rows:
            part.append(row)
            if len(part) >= n:
                self._count += len(part)
                yield part
                part = []
        if part:
            self._count += len(part)
            yield part


@contextmanager
def open_table(name: str, source: Path | bytes) -> Iterator[Table]:
    """The file `name` (read from `source`, a path or the bytes) as a `Table`; a file-level
    mistake (no header, not .xlsx, old .xls) is an `ImportSpecError`."""
    lower = name.lower()
    if lower.endswith(".xls"):
        raise ImportSpecError(f"{name}: the old .xls format is not read: save it as .xlsx or CSV")
    binary: IO[bytes] = open(source, "rb") if isinstance(source, Path) else io.BytesIO(source)  # noqa: SIM115 (closed below)
    try:
        if lower.endswith((".xlsx", ".xlsm")):
            with _xlsx(name, binary) as table:
                yield table
        else:
            table = _csv(name, binary)
            try:
                yield table
            finally:
                if table.text is not None:
                    table.text.close()
    finally:
        binary.close()


def read_table(name: str, data: bytes) -> tuple[list[str], Rows]:
    """The header (first non-blank row) and all the rows after it with their 1-based line
    numbers: a small file in one piece."""
    with open_table(name, data) as table:
        return table.header, [row for part in table.chunks() for row in part]


def _csv(name: str, binary: IO[bytes]) -> Table:
    size = binary.seek(0, io.SEEK_END)
    binary.seek(0)
    try:  # the start decides; a file that stops being UTF-8 later is refused
        codecs.getincrementaldecoder("utf-8-sig")().decode(binary.read(1 << 16), final=False)
        encoding = "utf-8-sig"
    except UnicodeDecodeError:
        encoding = "cp1252"  # utility portals on Windows export in the ANSI code page
    binary.seek(0)
    text = io.TextIOWrapper(binary, encoding=encoding, newline="")
    sample = text.read(4096)
    text.seek(0)
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text, dialect)
    header: list[str] | None = None
    line = 0
    for cells in _decoded(name, reader):
        line = reader.line_num
        if any(c.strip() for c in cells):
            header = [c.strip() for c in cells]
            break
    if header is None:
        raise ImportSpecError(f"{name}: no header row")

    def rows(line: int) -> Iterator[tuple[int, Sequence[str]]]:
        for cells in _decoded(name, reader):
            yield line + 1, cells
            line = reader.line_num

    table = Table(header, rows(line), size, binary)
    table.text = text
    return table


def _decoded(name: str, reader: Iterator[list[str]]) -> Iterator[list[str]]:
    try:
        yield from reader
    except UnicodeDecodeError as exc:
        raise ImportSpecError(f"{name}: not UTF-8 throughout ({exc})") from exc


@contextmanager
def _xlsx(name: str, binary: IO[bytes]) -> Iterator[Table]:
    try:
        book = openpyxl.load_workbook(binary, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportSpecError(f"{name}: not a readable .xlsx file ({exc})") from exc
    try:
        sheet = book.worksheets[0]
        numbered = enumerate(sheet.iter_rows(values_only=True), start=1)
        header: list[str] | None = None
        for _, values in numbered:
            cells = [_cell(v) for v in values]
            if any(c.strip() for c in cells):
                header = [c.strip() for c in cells]
                break
        if header is None:
            raise ImportSpecError(f"{name}: no header row")
        rows = ((line, [_cell(v) for v in values]) for line, values in numbered)
        yield Table(header, rows, sheet.max_row or 0, None)
    finally:
        book.close()


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
