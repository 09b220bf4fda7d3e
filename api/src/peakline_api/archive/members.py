"""What a city archive holds, member by member, and how a stored row becomes a CSV line (pure).

A series member (`series/<measurement>.csv`) has one line per stored point: `time_ns`, the
measurement's series tags, then its fields. The field types are fixed here, as the writers
write them (peakline_core.storage.schema): a restore writes each field with the type the live
writers use, so an InfluxDB restored from an archive takes live data afterwards without a
field-type conflict. An empty cell is a field the point does not have. Floats are written
with `repr` (shortest text that reads back to the same double), so sums match to the bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from peakline_api.archive.errors import ArchiveFormatError
from peakline_core.storage import Row, RowBlock
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

ARCHIVE_FORMAT: Final = 2
"""Version of the archive layout (members, columns, manifest); a restore refuses others.
2: DR events and the alert outbox as members, the scope (sites, assets) in the manifest."""
READABLE_FORMATS: Final = frozenset({1, ARCHIVE_FORMAT})

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
        "cause_ns": int,
        "cause_point": str,
        "cause_from": float,
        "cause_to": float,
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
    ENERGY: DAY_NS,
    ENERGY_1H: 31 * DAY_NS,
    EMISSIONS: 31 * DAY_NS,
}
"""Time slice of one store read per site: a day of 1-minute readings and energy windows, a
month of hourly rows (under influxd's usual `max-row-limit` of 10,000 rows an answer for
a site of a few meters; a slice cut short is read again in halves); coarser measurements are
read for the whole period at once."""
WHOLE_NS: Final = 400 * DAY_NS


def series_member(measurement: str) -> str:
    return f"series/{measurement}.csv"


def header(measurement: str) -> list[str]:
    return ["time_ns", *SERIES_TAGS[measurement], *FIELD_TYPES[measurement]]


def _column(values: Sequence[FieldValue | None], kind: type) -> list[str]:
    if kind is float:
        return ["" if v is None or v != v else repr(float(v)) for v in values]
    if kind is int:
        return ["" if v is None else str(int(v)) for v in values]
    return ["" if v is None else str(v) for v in values]


def encode_series(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, tuple[Sequence[int], Sequence[FieldValue | None]]],
) -> list[tuple[str, ...]]:
    """`encode` for a whole series at once (field -> (times, values)), in time order: the
    points are the union of the fields' times; columns are filled by position, not per
    point, which keeps a year of 1-minute data from costing a Python call per cell."""
    known = [np.asarray(t, dtype=np.int64) for t, _ in fields.values()]
    if not known:
        return []
    times = np.unique(np.concatenate(known))
    n = len(times)
    columns: list[Sequence[str]] = [[str(t) for t in times.tolist()]]
    columns.extend([tags.get(k, "")] * n for k in SERIES_TAGS[measurement])
    for name, kind in FIELD_TYPES[measurement].items():
        column = np.full(n, "", dtype=object)
        if name in fields:
            t, values = fields[name]
            column[np.searchsorted(times, np.asarray(t, dtype=np.int64))] = _column(values, kind)
        columns.append(column.tolist())
    return list(zip(*columns, strict=True))


def encode(
    measurement: str, tags: Mapping[str, str], ts: int, fields: Mapping[str, FieldValue]
) -> list[str]:
    """One CSV line's cells for a stored point (a field it lacks is an empty cell)."""
    one = {name: ([int(ts)], [value]) for name, value in fields.items()}
    return list(encode_series(measurement, tags, one)[0])


def decode_block(
    measurement: str, columns: Sequence[str], lines: Sequence[Sequence[str]]
) -> RowBlock | None:
    """`decode` for many lines at once, as one columnar block (parsed by numpy, not per
    cell); None when an integer field is missing on some line (a block cannot say "absent"
    for an int column): the caller decodes those lines one by one."""
    if any(len(cells) != len(columns) for cells in lines):
        raise ArchiveFormatError(
            f"{series_member(measurement)}: a line with {len(columns)} cells expected"
        )
    tag_keys = SERIES_TAGS[measurement]
    types = FIELD_TYPES[measurement]
    cols = [np.array(c, dtype=object) for c in zip(*lines, strict=True)]
    try:
        ts = cols[0].astype(np.int64)
        series: dict[tuple[str, ...], int] = {}
        tag_cols = cols[1 : 1 + len(tag_keys)]
        index = np.array(
            [series.setdefault(key, len(series)) for key in zip(*tag_cols, strict=True)],
            dtype=np.intp,
        )
        fields: dict[str, npt.NDArray[np.generic]] = {}
        for name, col in zip(columns[1 + len(tag_keys) :], cols[1 + len(tag_keys) :], strict=True):
            present = col != ""
            kind = types[name]
            if kind is float:
                values = np.full(len(col), np.nan)
                values[present] = col[present].astype(np.float64)
                fields[name] = values
            elif kind is int:
                if not present.all():
                    if not present.any():
                        continue
                    return None
                fields[name] = col.astype(np.int64)
            else:
                text = col.copy()
                text[~present] = None
                fields[name] = text
    except (ValueError, KeyError) as exc:
        raise ArchiveFormatError(f"{series_member(measurement)}: {exc}") from None
    sets = [{k: v for k, v in zip(tag_keys, key, strict=True) if v != ""} for key in series]
    return RowBlock(measurement, sets, index, fields, ts)


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
