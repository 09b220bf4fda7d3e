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


def _float_texts(values: npt.NDArray[np.float64]) -> list[str]:
    """Shortest round-trip text of each (finite) float, integral ones without `.0`."""
    if np.isinf(values).any():
        raise LineProtocolError("non-finite float")
    negative_zero = (values == 0) & np.signbit(values)
    integral = (values == np.trunc(values)) & (np.abs(values) < 1e16) & ~negative_zero
    if integral.all():
        return list(map(str, values.astype(np.int64).tolist()))
    out = np.array(list(map(float.__repr__, values.tolist())), dtype=object)
    if integral.any():
        out[integral] = list(map(str, values[integral].astype(np.int64).tolist()))
    out[negative_zero] = "-0"
    texts: list[str] = out.tolist()
    return texts


def _int_texts(values: npt.NDArray[np.generic], suffix: str = "") -> list[str]:
    """Decimal text of each integer; few distinct values (quality codes, the timestamps of one
    batch) are formatted once each and gathered."""
    n = values.shape[0]
    if n > 64:
        uniques, inverse = np.unique(values, return_inverse=True)
        if uniques.shape[0] * 4 < n:
            texts = np.array([f"{v}{suffix}" for v in uniques.tolist()], dtype=object)
            gathered: list[str] = texts[inverse.reshape(-1)].tolist()
            return gathered
    if suffix:
        return [f"{v}{suffix}" for v in values.tolist()]
    return list(map(str, values.tolist()))


def _value_texts(column: npt.NDArray[np.generic]) -> tuple[list[str], npt.NDArray[np.bool_]]:
    """Per-row value text (no key) and the mask of rows where the field is present."""
    kind = column.dtype.kind
    n = column.shape[0]
    if kind == "f":
        values = np.asarray(column, dtype=np.float64)
        present = ~np.isnan(values)
        texts = [""] * n
        if present.all():
            return _float_texts(values), present
        sel = np.flatnonzero(present)
        for i, t in zip(sel.tolist(), _float_texts(values[sel]), strict=True):
            texts[i] = t
        return texts, present
    if kind == "b":
        return ["true" if v else "false" for v in column.tolist()], np.ones(n, dtype=bool)
    if kind in "iu":
        return _int_texts(column, "i"), np.ones(n, dtype=bool)
    if kind == "O":
        items = column.tolist()
        present = np.array([v is not None for v in items], dtype=bool)
        return ["" if v is None else escape_string(str(v)) for v in items], present
    raise LineProtocolError(f"unsupported column dtype {column.dtype}")


def encode_block(block: RowBlock) -> bytes:
    """Encode a block to line protocol (one `\\n`-terminated line per row), UTF-8."""
    n = len(block)
    if n == 0:
        return b""
    keys = np.array(
        [series_key(block.measurement, tags) + " " for tags in block.series], dtype=object
    )
    prefixes: list[str] = keys[np.asarray(block.series_index)].tolist()
    names = sorted(block.fields)
    if not names:
        raise LineProtocolError(f"{block.measurement!r}: a line needs at least one field")
    escaped = [escape_key(k, "field key") for k in names]
    columns = [_value_texts(block.fields[k]) for k in names]
    stamps = _int_texts(np.asarray(block.ts, dtype=np.int64))
    if all(present.all() for _, present in columns):
        # Every row has every field: one format call per line, no per-field joins.
        pattern = ",".join(k.replace("{", "{{").replace("}", "}}") + "={}" for k in escaped)
        fmt = "{}" + pattern + " {}\n"
        body = "".join(map(fmt.format, prefixes, *(texts for texts, _ in columns), stamps))
        return body.encode()
    fields = [""] * n
    for key, (texts, present) in zip(escaped, columns, strict=True):
        head = "," + key + "="
        for i in np.flatnonzero(present).tolist():
            fields[i] += head + texts[i]
    if not all(fields):
        raise LineProtocolError(f"{block.measurement!r}: row {fields.index('')} has no field")
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
