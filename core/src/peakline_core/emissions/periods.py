"""Period roll-ups in local time and aggregation of sites into districts and cities."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from peakline_core.emissions._arrays import F64, I64, as_2d, as_ts
from peakline_core.emissions.errors import ShapeError

Period = Literal["hour", "day", "month", "year"]
_HOUR_NS = 3_600_000_000_000


def utc_offsets_ns(ts_ns: I64, tz: str) -> I64:
    """UTC offset (ns) of `tz` at each timestamp, taken per UTC hour (offsets change on hour
    boundaries). zoneinfo is asked once per UTC day, and hour by hour only on the days
    whose offset at midnight differs from the next midnight's (DST changes)."""
    if tz == "UTC":
        return np.zeros_like(ts_ns)
    zone = ZoneInfo(tz)
    hours, inverse = np.unique(ts_ns // _HOUR_NS, return_inverse=True)
    days = hours // 24
    edges = np.unique(np.concatenate([days, days + 1]))
    at_edge = np.array([_offset_s(int(d) * 86_400, zone) for d in edges], dtype=np.int64)
    start = at_edge[np.searchsorted(edges, days)]
    changes = start != at_edge[np.searchsorted(edges, days + 1)]
    offs = start.copy()
    for i in np.flatnonzero(changes):  # a few days a year: hour by hour
        offs[i] = _offset_s(int(hours[i]) * 3600, zone)
    out: I64 = offs[inverse.reshape(-1)] * 1_000_000_000
    return out


def _offset_s(unix_s: int, zone: ZoneInfo) -> int:
    off = datetime.fromtimestamp(unix_s, UTC).astimezone(zone).utcoffset()
    return 0 if off is None else int(off.total_seconds())


@dataclass(frozen=True, slots=True)
class Rollup:
    """Sums per period: `labels` are local period starts (naive datetime64[s] in the site's
    time zone), `values` [sites, periods], `counts` [sites, periods] finite inputs summed."""

    labels: npt.NDArray[np.datetime64]
    values: F64
    counts: npt.NDArray[np.int64]


def period_keys(ts_ns: I64, period: Period, tz: str) -> npt.NDArray[np.datetime64]:
    """The local period start each timestamp falls in, as naive datetime64[s]."""
    local = (ts_ns + utc_offsets_ns(ts_ns, tz)).astype("datetime64[ns]")
    unit = {"hour": "h", "day": "D", "month": "M", "year": "Y"}[period]
    out: npt.NDArray[np.datetime64] = local.astype(f"datetime64[{unit}]").astype("datetime64[s]")
    return out


def rollup(ts: Any, values: Any, period: Period, tz: str = "UTC") -> Rollup:
    """Sum [sites, time] values (kWh, kgCO2e) into local hours, days, months or years.

    `ts` are interval starts (UTC ns); an interval belongs to the period its start is in.
    NaN values are skipped and show in `counts`.
    """
    v = as_2d("values", values)
    t = as_ts(ts, v.shape[1])
    if v.shape[1] == 0:
        empty = np.zeros((v.shape[0], 0))
        return Rollup(np.array([], dtype="datetime64[s]"), empty, empty.astype(np.int64))
    keys = period_keys(t, period, tz)
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    finite = np.isfinite(v)
    sums = np.add.reduceat(np.where(finite, v, 0.0), starts, axis=1)
    counts = np.add.reduceat(finite.astype(np.int64), starts, axis=1)
    return Rollup(keys[starts], sums, counts)


def aggregate(
    site_values: Any, groups: Any, n_groups: int | None = None, weights: Any = None
) -> F64:
    """Aggregate sites into groups (districts, cities): [sites, ...] -> [groups, ...].

    Without `weights`, sums (extensive quantities: kWh, kgCO2e, m2, occupants). With
    `weights` [sites] (e.g. floor area for kgCO2e/m2), the weighted mean of an intensive
    quantity, which equals the ratio of the summed numerator and denominator. `groups` [sites]
    holds each site's group index 0..n_groups-1.
    """
    v = np.asarray(site_values, dtype=np.float64)
    g = np.asarray(groups, dtype=np.int64)
    if g.ndim != 1 or v.shape[:1] != g.shape:
        raise ShapeError(f"groups {g.shape} do not match site values {v.shape}")
    n = int(g.max()) + 1 if n_groups is None and g.size else (n_groups or 0)
    if weights is None:
        out = np.zeros((n, *v.shape[1:]))
        np.add.at(out, g, np.nan_to_num(v, nan=0.0))
        return out
    w = np.asarray(weights, dtype=np.float64).reshape((-1,) + (1,) * (v.ndim - 1))
    num = np.zeros((n, *v.shape[1:]))
    den = np.zeros((n, *v.shape[1:]))
    ok = np.isfinite(v)
    np.add.at(num, g, np.where(ok, v * w, 0.0))
    np.add.at(den, g, np.where(ok, np.broadcast_to(w, v.shape), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean: F64 = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return mean
