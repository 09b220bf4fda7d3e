"""Import errors: a file-level mistake raises; a bad row is a `RowError` value in the report
(every row either becomes data or one of these, so an operator sees all of them at once)."""

from __future__ import annotations

from dataclasses import dataclass

from peakline_core.errors import PeaklineError


class ImportingError(PeaklineError):
    """Root of the import errors."""


class ImportSpecError(ImportingError):
    """The file cannot be read as asked: a missing column, an unknown unit, naive times
    without a time zone, an interval length the data contradicts."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One rejected row: its 1-based line in the file, the column, and what was expected."""

    line: int
    column: str
    expected: str
    got: str = ""

    def __str__(self) -> str:
        got = f" (got {self.got!r})" if self.got else ""
        return f"line {self.line}, column {self.column!r}: expected {self.expected}{got}"
