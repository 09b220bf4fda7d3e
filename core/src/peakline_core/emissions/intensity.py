"""Grid carbon intensity time series: parse (CSV text, MQTT payloads) and align to intervals.

A series is a step function: each value holds from its timestamp until the next one. Where a
series has no value (before its first point, after `max_age_ns` past its last, or NaN), the
region's annual factor stands in, so a partial series never leaves emissions uncounted.
Units: g CO2e/kWh on the wire (as grid operators publish), kg CO2e/kWh in the maths.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from peakline_core.emissions._arrays import F64, I64
from peakline_core.emissions.errors import IntensityParseError

_TS_COLUMNS = ("ts", "timestamp", "time", "datetime")
_VALUE_COLUMNS = ("intensity_g_per_kwh", "g_per_kwh", "gco2_per_kwh", "carbon_intensity")


@dataclass(frozen=True, slots=True)
class IntensityPoint:
    """One intensity reading: region, UTC ns, g CO2e/kWh."""

    region: str
    ts_ns: int
    g_per_kwh: float


@dataclass(frozen=True, slots=True)
class CarbonIntensitySeries:
    """A region's intensity series: `ts_ns` increasing UTC ns, `g_per_kwh` values."""

    region: str
    ts_ns: I64
    g_per_kwh: F64

    def kg_per_kwh_at(
        self, starts_ns: Any, fallback_kg_per_kwh: float, max_age_ns: int = 3_600_000_000_000
    ) -> F64:
        """kgCO2e/kWh for intervals starting at `starts_ns` (UTC ns), [time]."""
        t = np.asarray(starts_ns, dtype=np.int64)
        if self.ts_ns.size == 0:
            return np.full(t.shape, fallback_kg_per_kwh)
        idx = np.searchsorted(self.ts_ns, t, side="right") - 1
        ok = (idx >= 0) & (t - self.ts_ns[np.maximum(idx, 0)] <= max_age_ns)
        vals = self.g_per_kwh[np.maximum(idx, 0)] / 1000.0
        ok &= np.isfinite(vals)
        out: F64 = np.where(ok, vals, fallback_kg_per_kwh)
        return out

    @classmethod
    def from_points(cls, region: str, points: list[IntensityPoint]) -> CarbonIntensitySeries:
        """A series from points of `region` (others ignored); later duplicates win."""
        by_ts = {p.ts_ns: p.g_per_kwh for p in points if p.region == region}
        ts = np.array(sorted(by_ts), dtype=np.int64)
        return cls(region, ts, np.array([by_ts[int(x)] for x in ts], dtype=np.float64))


def parse_ts(value: Any) -> int:
    """UTC ns from an int (ns), or an ISO 8601 string with an offset or Z."""
    if isinstance(value, bool):
        raise IntensityParseError("bad_ts", f"not a timestamp: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        try:
            dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise IntensityParseError("bad_ts", f"not ISO 8601: {value!r}") from None
        if dt.tzinfo is None:
            raise IntensityParseError("bad_ts", f"timestamp without offset: {value!r}")
        whole = int(dt.timestamp()) * 1_000_000_000
        return whole + dt.microsecond * 1000
    raise IntensityParseError("bad_ts", f"not a timestamp: {value!r}")


def _value(raw: Any) -> float:
    try:
        v = float(raw)
    except (TypeError, ValueError):
        raise IntensityParseError("bad_value", f"not a number: {raw!r}") from None
    if not math.isfinite(v) or v < 0 or v > 5000:
        raise IntensityParseError("bad_value", f"intensity out of range 0..5000: {v}")
    return v


def parse_intensity_message(payload: bytes | str) -> IntensityPoint:
    """One MQTT payload: JSON ``{"region": str, "ts": ns or ISO, "intensity_g_per_kwh": n}``."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise IntensityParseError("bad_json", str(exc)) from None
    if not isinstance(data, dict):
        raise IntensityParseError("bad_shape", "payload is not a JSON object")
    missing = {"region", "ts", "intensity_g_per_kwh"} - data.keys()
    if missing:
        raise IntensityParseError("missing_field", ", ".join(sorted(missing)))
    region = data["region"]
    if not isinstance(region, str) or not region:
        raise IntensityParseError("bad_region", f"region must be a non-empty string: {region!r}")
    return IntensityPoint(region, parse_ts(data["ts"]), _value(data["intensity_g_per_kwh"]))


def parse_intensity_csv(text: str | bytes, region: str | None = None) -> list[IntensityPoint]:
    """Points from CSV with a header: a time column (ts/timestamp/time/datetime: ns or ISO
    8601 with offset), a value column (intensity_g_per_kwh/g_per_kwh/...: g CO2e/kWh) and a
    `region` column unless `region` is given. Errors name the line."""
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    ts_col = next((c for c in _TS_COLUMNS if c in fields), None)
    val_col = next((c for c in _VALUE_COLUMNS if c in fields), None)
    if ts_col is None or val_col is None:
        raise IntensityParseError("bad_header", f"need a time and a value column, got {fields}")
    if region is None and "region" not in fields:
        raise IntensityParseError("bad_header", "no region column and no region given")
    points = []
    for line, row in enumerate(reader, start=2):
        norm = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        try:
            r = region if region is not None else norm["region"]
            points.append(IntensityPoint(r, parse_ts(norm[ts_col]), _value(norm[val_col])))
        except IntensityParseError as exc:
            raise IntensityParseError(exc.reason, f"line {line}: {exc.detail}") from None
    return points
