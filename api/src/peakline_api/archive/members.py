"""What a city archive holds, member by member, and how a stored row becomes a CSV line (pure).

A series member (`series/<measurement>.csv`) has one line per stored point: `time_ns`, the
measurement's series tags, then its fields. The field types are fixed here, as the writers
write them (peakline_core.storage.schema): a restore writes each field with the type the live
writers use, so an InfluxDB restored from an archive takes live data afterwards without a
field-type conflict. An empty cell is a field the point does not have. Floats are written
with `repr` (shortest text that reads back to the same double), so sums match to the bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

from peakline_core.storage import Row
from peakline_core.storage.schema import (
    ANOMALY_EVENT,
    ANOMALY_SCORE,
    CARBON_INTENSITY,
    EMISSIONS,
    EMISSIONS_1D,
    EMISSIONS_1MO,
    ENERGY,
    ENERGY_1D,
    ENERGY_1H,
    ENERGY_1MO,
    IMPORT_LEDGER,
    READING,
    SERIES_TAGS,
)
from peakline_core.storage.store import FieldValue

ARCHIVE_FORMAT: Final = 1
"""Version of the archive layout (members, columns, manifest); a restore refuses others."""

NS: Final = 1_000_000_000
DAY_NS: Final = 86_400 * NS

_ROLLUP: dict[str, type] = {"kwh": float, "estimated_kwh": float, "suspect_kwh": float}

FIELD_TYPES: Final[dict[str, dict[str, type]]] = {
    READING: {"value": float, "text": str, "quality": int},
    ENERGY: {
        "kwh": float,
        "estimated_kwh": float,
        "suspect_kwh": float,
        "covered_s": float,
        "suspect_n": int,
        "quality": str,
        "source": str,
    },
    ENERGY_1H: _ROLLUP,
    ENERGY_1D: _ROLLUP,
    ENERGY_1MO: _ROLLUP,
    EMISSIONS: {"kgco2e": float, "kg_per_kwh": float, "basis": str},
    EMISSIONS_1D: {"kgco2e": float},
    EMISSIONS_1MO: {"kgco2e": float},
    ANOMALY_SCORE: {"score": float, "detector": str},
    ANOMALY_EVENT: {
        "event_id": str,
        "state": str,
        "end": int,
        "peak_score": float,
        "points": str,
        "expected_low": float,
        "expected_high": float,
        "seen": float,
    },
    IMPORT_LEDGER: {
        "file": str,
        "sha256": str,
        "kind": str,
        "rows": int,
        "written": int,
        "from_ns": int,
        "to_ns": int,
        "total": float,
    },
    CARBON_INTENSITY: {"g_per_kwh": float},
}
"""The exported measurements and their fields; `late_data` marks are left out (they are the
deriver's to-do list, and a restore must not make a deriver redo the restored windows)."""

SLICE_NS: Final[dict[str, int]] = {
    READING: DAY_NS,
    ANOMALY_SCORE: DAY_NS,
    ENERGY: 7 * DAY_NS,
    ENERGY_1H: 92 * DAY_NS,
    EMISSIONS: 92 * DAY_NS,
}
"""Time slice of one store read per site: about a day of 1-minute readings per point, a week
of 1-minute energy windows; coarser measurements are read for a whole year at once."""
WHOLE_NS: Final = 400 * DAY_NS


def series_member(measurement: str) -> str:
    return f"series/{measurement}.csv"


def header(measurement: str) -> list[str]:
    return ["time_ns", *SERIES_TAGS[measurement], *FIELD_TYPES[measurement]]


def _cell(value: FieldValue | None, kind: type) -> str:
    if value is None:
        return ""
    if kind is float:
        v = float(value)
        return "" if math.isnan(v) else repr(v)
    if kind is int:
        return str(int(value))
    return str(value)


def encode(
    measurement: str, tags: Mapping[str, str], ts: int, fields: Mapping[str, FieldValue]
) -> list[str]:
    """One CSV line's cells for a stored point (a field it lacks is an empty cell)."""
    types = FIELD_TYPES[measurement]
    return [
        str(int(ts)),
        *(tags.get(k, "") for k in SERIES_TAGS[measurement]),
        *(_cell(fields.get(f), kind) for f, kind in types.items()),
    ]


class ArchiveFormatError(ValueError):
    """A member's header or a cell is not what this archive format says."""


def decode(measurement: str, columns: Sequence[str], cells: Sequence[str]) -> Row:
    """The stored point a CSV line stands for (the inverse of `encode`)."""
    if len(cells) != len(columns):
        raise ArchiveFormatError(f"{series_member(measurement)}: {len(cells)} cells, expected "
                                 f"{len(columns)}")  # fmt: skip
    tag_keys = SERIES_TAGS[measurement]
    types = FIELD_TYPES[measurement]
    tags = {k: cells[i + 1] for i, k in enumerate(tag_keys) if cells[i + 1] != ""}
    fields: dict[str, FieldValue] = {}
    offset = 1 + len(tag_keys)
    try:
        for i, name in enumerate(columns[offset:], start=offset):
            text = cells[i]
            if text == "":
                continue
            kind = types[name]
            fields[name] = text if kind is str else float(text) if kind is float else int(text)
        ts = int(cells[0])
    except (ValueError, KeyError) as exc:
        raise ArchiveFormatError(f"{series_member(measurement)}: {exc}") from None
    return Row(measurement, tags, fields, ts)
