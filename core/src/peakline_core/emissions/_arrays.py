"""Array helpers shared by the emissions modules (shapes, typed aliases)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from peakline_core.emissions.errors import ShapeError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
B = npt.NDArray[np.bool_]


def as_2d(name: str, values: Any) -> F64:
    """`values` as a float64 [sites, time] array (a 1-D array is one site)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[np.newaxis, :]
    if arr.ndim != 2:
        raise ShapeError(f"{name} must be [sites, time], got shape {arr.shape}")
    return arr


def as_ts(ts: Any, n: int) -> I64:
    """Timestamps as int64 UTC ns, strictly increasing, of length `n`."""
    t = np.asarray(ts)
    if np.issubdtype(t.dtype, np.datetime64):
        t = t.astype("datetime64[ns]").astype(np.int64)
    t = t.astype(np.int64, copy=False)
    if t.ndim != 1 or t.shape[0] != n:
        raise ShapeError(f"ts must be 1-D of length {n}, got shape {t.shape}")
    if n > 1 and not bool(np.all(np.diff(t) > 0)):
        raise ShapeError("ts must be strictly increasing")
    return t


def per_site(name: str, values: Any, sites: int) -> F64:
    """A per-site column [sites, 1] from a scalar or a [sites] array."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        return np.full((sites, 1), float(arr))
    if arr.shape == (sites,):
        return arr[:, np.newaxis]
    if arr.shape == (sites, 1):
        return arr
    raise ShapeError(f"{name} must be a scalar or [{sites}], got shape {arr.shape}")
