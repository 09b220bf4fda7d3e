"""What a parse yields, and the `energy` rows it becomes.

Imported data is stored as `energy` rows (per device and flow, time = interval start) with
`quality` "imported" and `source` "<file>:<line>", not as `reading` rows: an interval export
holds energy per interval, not the meter's register, and feeding a made-up register to the
deriver's counter walk would meet the live register as a jump or a reset. The roll-ups sum
`energy` rows whatever their length, so an imported quarter-hour is summed like fifteen live
minutes (see docs/import.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from peakline_core.importing.errors import RowError
from peakline_core.storage import Row
from peakline_core.storage.schema import ENERGY

IMPORTED = "imported"


@dataclass(frozen=True, slots=True)
class ImportedRow:
    """One interval's energy in the stored unit: [start_ns, start_ns + length_ns)."""

    start_ns: int
    length_ns: int
    value: float
    line: int
    estimated: bool = False


@dataclass(slots=True)
class ParseResult:
    """Rows refused, what was inferred about the file, and the valid rows' count, span and
    total. A streamed parse (`IntervalParser`) only counts the rows it hands on (`add`);
    `parse_interval` and `parse_bills` also keep them in `rows`."""

    rows: list[ImportedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    unit: str = "kwh"
    stored_unit: str = "kwh"
    interval_s: int | None = None
    notes: list[str] = field(default_factory=list)
    count: int = 0
    total: float = 0.0
    """The valid rows' number and sum (stored unit)."""
    first_ns: int | None = None
    end_ns: int | None = None

    def add(self, rows: Sequence[ImportedRow], keep: bool = True) -> None:
        """Count `rows` (valid, in time order) into the result; keep them when `keep`."""
        if keep:
            self.rows.extend(rows)
        for r in rows:
            self.count += 1
            self.total += r.value
            if self.first_ns is None or r.start_ns < self.first_ns:
                self.first_ns = r.start_ns
            end = r.start_ns + r.length_ns
            if self.end_ns is None or end > self.end_ns:
                self.end_ns = end

    @property
    def span(self) -> tuple[int, int] | None:
        """[first start, last end) in UTC ns, or None when no row is valid."""
        if self.first_ns is None or self.end_ns is None:
            return None
        return self.first_ns, self.end_ns


def energy_rows(
    result: ParseResult | Sequence[ImportedRow], site: str, device: str, flow: str, file: str
) -> list[Row]:
    """The `energy` rows of a parse (or of a chunk of its rows): quality imported, source
    `<file>:<line>`; a bill's day shares are wholly estimated (`estimated_kwh` = `kwh`)."""
    rows = result.rows if isinstance(result, ParseResult) else result
    tags = {"site": site, "device": device, "flow": flow}
    return [
        Row(
            ENERGY,
            tags,
            {
                "kwh": r.value,
                "estimated_kwh": r.value if r.estimated else 0.0,
                "suspect_kwh": 0.0,
                "covered_s": r.length_ns / 1e9,
                "suspect_n": 0,
                "quality": IMPORTED,
                "source": f"{file}:{r.line}",
            },
            r.start_ns,
        )
        for r in rows
    ]
