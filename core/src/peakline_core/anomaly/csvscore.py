"""Offline scoring of a table (a CSV export from InfluxDB or Grafana), as pure functions.

The CLI reads the file; these functions turn its columns into arrays, score every value
column as its own series, causally from the first row, and name the output columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from peakline_core.anomaly.config import DETECTORS, AnomalyConfig
from peakline_core.anomaly.engine import AnomalyEngine
from peakline_core.anomaly.errors import AnomalyError
from peakline_core.anomaly.state import Array

TIME_COLUMNS = ("timestamp", "time", "_time", "ts", "datetime", "date")
"""Column names taken as the timestamp (case-insensitive); else the first column."""


def epoch_to_ns(seconds_or_finer: Array) -> Array:
    """Epoch numbers in s, ms, us or ns (told apart by magnitude) -> int64 UTC ns."""
    x = np.asarray(seconds_or_finer, dtype=np.float64)
    big = float(np.nanmax(np.abs(x))) if x.size else 0.0
    # 1e11 s is the year 5138, 1e14 ms the year 5138, and so on
    unit = 1e9 if big < 1e11 else 1e6 if big < 1e14 else 1e3 if big < 1e17 else 1.0
    if unit == 1.0:
        return np.asarray(seconds_or_finer).astype(np.int64)
    return np.round(x * unit).astype(np.int64)


def parse_timestamps(texts: Sequence[str]) -> Array:
    """ISO 8601 (any offset or Z, naive taken as UTC) or epoch s/ms/us/ns -> int64 UTC ns."""
    arr = np.asarray([t.strip() for t in texts], dtype=str)
    if arr.size == 0:
        return np.zeros(0, np.int64)
    try:
        if np.char.isdigit(np.char.lstrip(arr, "-")).all():
            return epoch_to_ns(arr.astype(np.int64))
        return epoch_to_ns(arr.astype(np.float64))
    except ValueError:
        pass
    out = np.empty(arr.size, np.int64)
    try:
        for i, text in enumerate(arr):
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
            if stamp.tzinfo is None:
                micros = int((stamp - datetime(1970, 1, 1)).total_seconds() * 1e6)
            else:
                micros = int(stamp.timestamp() * 1e6)
            frac = text.rsplit(".", 1)[-1] if "." in text else ""
            digits = "".join(ch for ch in frac if ch.isdigit())
            extra_ns = int(digits[6:9].ljust(3, "0")) if len(digits) > 6 else 0
            out[i] = micros * 1000 + extra_ns
    except ValueError as exc:
        raise AnomalyError(f"row {i + 1}: unreadable timestamp {arr[i]!r}") from exc
    return out


def parse_values(texts: Sequence[str]) -> Array | None:
    """A column of numbers (empty, 'nan', 'null' -> NaN) as float64, or None if it is not
    numeric (a tag column, passed through untouched)."""
    cleaned = [t.strip() for t in texts]
    cleaned = ["nan" if t.lower() in ("", "null", "none", "nan") else t for t in cleaned]
    try:
        return np.asarray(cleaned, dtype=np.float64)
    except ValueError:
        return None


def output_names(value_columns: Sequence[str]) -> list[tuple[str, str]]:
    """(score column, detector column) for each value column."""
    if len(value_columns) == 1:
        return [("anomaly_score", "detector")]
    return [(f"{c}_anomaly_score", f"{c}_detector") for c in value_columns]


def score_table(
    ts_ns: Array, columns: Sequence[Array], config: AnomalyConfig | None = None
) -> list[tuple[Array, Array]]:
    """Score each value column as a series over the shared timestamps, causally from the
    first row; rows may be in any order. Returns (score float32, detector names) per column,
    in row order; rows without a value (or repeating an earlier timestamp) score NaN."""
    ts = np.asarray(ts_ns, dtype=np.int64)
    if not columns:
        return []
    values = np.stack([np.asarray(c, dtype=np.float64) for c in columns])
    if values.shape[1] != ts.size:
        raise AnomalyError("every column needs one value per timestamp")
    order = np.argsort(ts, kind="stable")
    engine = AnomalyEngine(config)
    keys = [f"column/{i}" for i in range(len(columns))]
    ts2 = np.broadcast_to(ts[order], values.shape).copy()
    batch = engine.score(keys, ts2, values[:, order])
    names = np.asarray(DETECTORS)
    result = []
    for row in range(len(columns)):
        score = np.empty(ts.size, np.float32)
        det = np.empty(ts.size, np.int8)
        score[order] = batch.score[row]
        det[order] = batch.detector[row]
        result.append((score, names[det]))
    return result
