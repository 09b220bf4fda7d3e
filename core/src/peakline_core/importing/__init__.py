"""Historical data import, pure part: rows of text in, normalised energy rows and per-row
errors out. No files, no store, no clock: `peakline_store.importing` reads the files and
writes what an operator commits.

- `units`: a file's unit to the stored unit (kWh, or a fuel meter's m3).
- `timestamps`: text to UTC ns, with a given or embedded offset; DST fall-back duplicates by
  order, spring-forward gap times refused.
- `interval`: 15-minute / hourly interval exports (interval energy or register readings),
  whole or a chunk of rows at a time (`IntervalParser`).
- `bills`: billing periods spread pro rata over days, marked estimated.
"""

from peakline_core.importing.bills import BillSpec, parse_bills
from peakline_core.importing.errors import ImportingError, ImportSpecError, RowError
from peakline_core.importing.interval import IntervalParser, IntervalSpec, parse_interval
from peakline_core.importing.result import ImportedRow, ParseResult, energy_rows

__all__ = [
    "BillSpec",
    "ImportSpecError",
    "ImportedRow",
    "ImportingError",
    "IntervalParser",
    "IntervalSpec",
    "ParseResult",
    "RowError",
    "energy_rows",
    "parse_bills",
    "parse_interval",
]
