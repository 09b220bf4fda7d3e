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
arrays; escaping is done once per series and per field key, values are formatted by C-level
`map` calls over whole columns, never by a Python loop per reading.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from peakline_core.errors import PeaklineError
from peakline_core.storage.store import FieldValue, Row


class LineProtocolError(PeaklineError):
    """A name or value has no exact line-protocol encoding."""


_MEASUREMENT: Final = str.maketrans({",": r"\,", " ": r"\ "})
_KEY: Final = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ "})
_STRING: Final = str.maketrans({'"': r"\"", "\\": r"\\"})
_FORBIDDEN: Final = ("\n", "\r")


def _check_name(kind: str, name: str) -> None:
    if not name:
        raise LineProtocolError(f"empty {kind}")
    if any(c in name for c in _FORBIDDEN):
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


def _float_column(prefix: str, column: npt.NDArray[np.generic]) -> list[str]:
    values = np.asarray(column, dtype=np.float64)
    absent = np.isnan(values)
    if np.isinf(values).any():
        raise LineProtocolError(f"non-finite float in field {prefix[1:-1]!r}")
    texts = list(map(float.__repr__, values.tolist()))
    out = [prefix + (t[:-2] if t.endswith(".0") else t) for t in texts]
    if absent.any():
        for i in np.flatnonzero(absent).tolist():
            out[i] = ""
    return out


def _field_column(key: str, column: npt.NDArray[np.generic]) -> list[str]:
    """`,key=value` per row, or "" where the field is absent."""
    prefix = "," + escape_key(key, "field key") + "="
    kind = column.dtype.kind
    if kind == "f":
        return _float_column(prefix, column)
    if kind == "b":
        return [prefix + ("true" if v else "false") for v in column.tolist()]
    if kind in "iu":
        return [f"{prefix}{v}i" for v in column.tolist()]
    if kind == "O":
        return ["" if v is None else prefix + escape_string(str(v)) for v in column.tolist()]
    raise LineProtocolError(f"unsupported column dtype {column.dtype} for field {key!r}")


def encode_block(block: RowBlock) -> bytes:
    """Encode a block to line protocol (one `\\n`-terminated line per row), UTF-8."""
    n = len(block)
    if n == 0:
        return b""
    keys = [series_key(block.measurement, tags) + " " for tags in block.series]
    prefixes = [keys[i] for i in np.asarray(block.series_index).tolist()]
    columns = [_field_column(k, block.fields[k]) for k in sorted(block.fields)]
    if not columns:
        raise LineProtocolError(f"{block.measurement!r}: a line needs at least one field")
    fields = columns[0]
    for column in columns[1:]:
        fields = list(map(operator.add, fields, column))
    if not all(fields):
        row = fields.index("")
        raise LineProtocolError(f"{block.measurement!r}: row {row} has no field")
    stamps = map(str, np.asarray(block.ts, dtype=np.int64).tolist())
    body = "".join(map("{}{} {}\n".format, prefixes, (f[1:] for f in fields), stamps))
    return body.encode()


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
