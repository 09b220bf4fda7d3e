"""What a parse yields, and the `energy` rows it becomes.

Imported data is stored as `energy` rows (per device and flow, time = interval start) with
`quality` "imported" and `source` "<file>:<line>", not as `reading` rows: an interval export
holds energy per interval, not the meter's register, and feeding a made-up register to the
deriver's counter walk would meet the live register as a jump or a reset. The roll-ups sum
`energy` rows whatever their length, so an imported quarter-hour is summed like fifteen live
minutes (see docs/import.md).
"""

from __future__ import annotations

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
    """Rows that will be stored, rows refused, and what was inferred about the file."""

    rows: list[ImportedRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    unit: str = "kwh"
    stored_unit: str = "kwh"
    interval_s: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def span(self) -> tuple[int, int] | None:
        """[first start, last end) in UTC ns, or None when no row is valid."""
        if not self.rows:
            return None
        return min(r.start_ns for r in self.rows), max(r.start_ns + r.length_ns for r in self.rows)

    @property
    def total(self) -> float:
        return sum(r.value for r in self.rows)


def energy_rows(result: ParseResult, site: str, device: str, flow: str, file: str) -> list[Row]:
    """The `energy` rows of a parse: quality imported, source `<file>:<line>`; a bill's day
    shares are wholly estimated (`estimated_kwh` = `kwh`)."""
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
        for r in result.rows
    ]
