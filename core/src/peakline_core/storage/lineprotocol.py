"""InfluxDB line protocol encoder, vectorized across rows (pure: arrays in, bytes out).

A line is `measurement[,tag=value...] field=value[,field=value...] timestamp_ns`. Escaping
follows the protocol shared by InfluxDB 1.x, 2.x and 3.x:

- measurement: `,` and space are backslash-escaped;
- tag keys, tag values, field keys: `,`, `=` and space are backslash-escaped;
- string field values are double-quoted with `"` and `\\` backslash-escaped.

Some strings have no exact encoding (a newline or carriage return in a name, a name ending in
a backslash, an empty name, a measurement starting with `#`); they raise LineProtocolError
instead of being silently altered. Floats are written as the shortest round-trip decimal
(trailing `.0` trimmed, as influxdb-client does), integers with the `i` suffix, booleans as
`true`/`false`. Tags and fields are written sorted by key so equal rows give equal bytes.

The hot path is `encode_block`: one measurement, a table of unique series and per-row column
arrays; escaping is done once per series and per field key, numbers are written digit by
digit into byte matrices by numpy (`lpbytes`) and the lines assembled in one masked copy,
never by a Python loop per reading.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from peakline_core.errors import PeaklineError
from peakline_core.storage.lpbytes import (
    Piece,
    constant,
    float_pieces,
    int_pieces,
    join,
    only,
    strings,
)
from peakline_core.storage.store import FieldValue, Row


class LineProtocolError(PeaklineError):
    """A name or value has no exact line-protocol encoding."""


_MEASUREMENT: Final = str.maketrans({",": r"\,", " ": r"\ "})
_KEY: Final = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING: Final = str.maketrans({'"': r"\"", "\\": r"\\"})


def _check_name(kind: str, name: str) -> None:
    if not name:
        raise LineProtocolError(f"empty {kind}")
    if "\n" in name or "\r" in name:
        raise LineProtocolError(f"{kind} {name!r} contains a line break")
    if name.endswith("\\"):
        raise LineProtocolError(f"{kind} {name!r} ends with a backslash")


def escape_measurement(name: str) -> str:
    """Escape a measurement name; raises LineProtocolError when it has no exact encoding."""
    _check_name("measurement", name)
    if name.startswith("#"):
        raise LineProtocolError(f"measurement {name!r} would be read as a comment")
    return name.translate(_MEASUREMENT)


def escape_key(name: str, kind: str = "tag") -> str:
    """Escape a tag key, tag value or field key."""
    _check_name(kind, name)
    return name.translate(_KEY)


def escape_string(value: str) -> str:
    """A string field value, quoted and escaped."""
    return '"' + value.translate(_STRING) + '"'


def format_float(value: float) -> str:
    """Shortest round-trip decimal of a finite float; raises LineProtocolError otherwise."""
    if not math.isfinite(value):
        raise LineProtocolError(f"non-finite float {value!r}")
    text = repr(value)
    return text[:-2] if text.endswith(".0") else text


def format_field(value: FieldValue) -> str:
    """One field value in line-protocol form (bool before int: bool is an int in Python)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return escape_string(value)
    raise LineProtocolError(f"unsupported field type {type(value).__name__}")


def series_key(measurement: str, tags: Mapping[str, str]) -> str:
    """`measurement,tag=value,...` escaped, tags sorted by key."""
    parts = [escape_measurement(measurement)]
    parts.extend(
        f"{escape_key(k, 'tag key')}={escape_key(v, 'tag value')}" for k, v in sorted(tags.items())
    )
    return ",".join(parts)


class SeriesKeys:
    """Escaped series keys (`measurement,tag=value,... `, UTF-8) kept across blocks.

    Ingest writes the same series batch after batch: escaping them once, not on every block,
    takes the per-series work off the hot path. Holds at most `limit` keys (emptied when
    full: a cache, never a source of truth). Not thread-safe; one per writer.
    """

    def __init__(self, limit: int = 200_000) -> None:
        self._limit = limit
        self._keys: dict[tuple[str, tuple[tuple[str, str], ...]], bytes] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def key(self, measurement: str, tags: Mapping[str, str]) -> bytes:
        """The series key followed by the space before the fields; raises LineProtocolError."""
        ident = (measurement, tuple(tags.items()))
        found = self._keys.get(ident)
        if found is None:
            if len(self._keys) >= self._limit:
                self._keys.clear()
            found = self._keys[ident] = (series_key(measurement, tags) + " ").encode()
        return found


@dataclass(frozen=True, slots=True)
class RowBlock:
    """Rows of one measurement as columns.

    `series` holds each unique tag set once; `series_index[i]` says which one row i belongs to.
    `fields` maps field keys to per-row columns: float64 (NaN = field absent on that row),
    int64, bool, or object (str, None = absent). `ts` is int64 UTC ns.
    """

    measurement: str
    series: Sequence[Mapping[str, str]]
    series_index: npt.NDArray[np.intp]
    fields: Mapping[str, npt.NDArray[np.generic]]
    ts: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.ts.shape[0])


def _field_pieces(column: npt.NDArray[np.generic]) -> tuple[list[Piece], npt.NDArray[np.bool_]]:
    """The value bytes of one field column and the mask of rows where it is present."""
    kind = column.dtype.kind
    n = column.shape[0]
    if kind == "f":
        values = np.asarray(column, dtype=np.float64)
        if np.isinf(values).any():
            raise LineProtocolError("non-finite float")
        present = ~np.isnan(values)
        return float_pieces(np.where(present, values, 0.0)), present
    everywhere = np.ones(n, dtype=bool)
    if kind == "i":
        return [*int_pieces(np.asarray(column, dtype=np.int64)), constant(b"i", n)], everywhere
    if kind == "b":
        return [strings([b"true" if v else b"false" for v in column.tolist()])], everywhere
    if kind == "u":
        return [strings([f"{v}i".encode() for v in column.tolist()])], everywhere
    if kind == "O":
        items = column.tolist()
        present = np.array([v is not None for v in items], dtype=bool)
        texts = [b"" if v is None else escape_string(str(v)).encode() for v in items]
        return [strings(texts, present)], present
    raise LineProtocolError(f"unsupported column dtype {column.dtype}")


def encode_block(block: RowBlock, keys: SeriesKeys | None = None) -> bytes:
    """Encode a block to line protocol (one `\\n`-terminated line per row), UTF-8.

    `keys` keeps escaped series keys between calls (pass the same one for every block)."""
    n = len(block)
    if n == 0:
        return b""
    names = sorted(block.fields)
    if not names:
        raise LineProtocolError(f"{block.measurement!r}: a line needs at least one field")
    cache = keys if keys is not None else SeriesKeys()
    key = cache.key
    prefixes = strings([key(block.measurement, tags) for tags in block.series])
    rows = np.asarray(block.series_index)
    pieces = [Piece(prefixes.bytes_, prefixes.keep, rows)]
    seen = np.zeros(n, dtype=bool)  # rows with a field already written: they need a comma
    for name in names:
        values, present = _field_pieces(block.fields[name])
        pieces.append(constant(b",", n, present & seen))
        pieces.append(constant((escape_key(name, "field key") + "=").encode(), n, present))
        if not present.all():
            values = [only(v, present) for v in values]
        pieces.extend(values)
        seen |= present
    if not seen.all():
        row = int(np.flatnonzero(~seen)[0])
        raise LineProtocolError(f"{block.measurement!r}: row {row} has no field")
    pieces.append(constant(b" ", n))
    pieces.extend(int_pieces(np.asarray(block.ts, dtype=np.int64)))
    pieces.append(constant(b"\n", n))
    return join(pieces)


def encode_rows(rows: Sequence[Row]) -> bytes:
    """Encode generic rows (any measurement); series keys are escaped once per series."""
    cache: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    lines: list[str] = []
    for row in rows:
        ident = (row.measurement, tuple(sorted(row.tags.items())))
        key = cache.get(ident)
        if key is None:
            key = cache[ident] = series_key(row.measurement, row.tags) + " "
        fields = ",".join(
            f"{escape_key(k, 'field key')}={format_field(v)}"
            for k, v in sorted(row.fields.items())
            if not (isinstance(v, float) and math.isnan(v))
        )
        if not fields:
            raise LineProtocolError(f"{row.measurement!r}: a line needs at least one field")
        lines.append(f"{key}{fields} {int(row.ts)}\n")
    return "".join(lines).encode()
