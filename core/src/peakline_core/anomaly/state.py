"""Per-series carried state of the anomaly engine, as a struct of arrays.

Every detector is a recursion whose whole memory lives here, one row per series, so a batch
can be scored, the state saved, and the next batch scored after a restart with exactly the
same result as if nothing had happened. Layout is fixed by `FIELDS`; saving is `.npz` (no
pickle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

BINS = 48
"""Seasonal bins: 24 hours of the day x {weekday, weekend} (local time of the series)."""

NO_TIME = np.iinfo(np.int64).min
"""Sentinel for 'no timestamp yet' in int64 UTC ns fields."""

# name -> (dtype, bins per series or 0 for a scalar, initial value)
FIELDS: dict[str, tuple[type[np.generic], int, float | int | bool]] = {
    # metadata (from device profiles)
    "lower": (np.float64, 0, -np.inf),
    "upper": (np.float64, 0, np.inf),
    "max_rate": (np.float64, 0, np.inf),
    "counter": (np.bool_, 0, False),
    "commanded": (np.bool_, 0, False),  # a point the platform writes: hard checks only
    "rollover": (np.float64, 0, np.nan),
    "utc_offset_ns": (np.int64, 0, 0),
    # the register's resolution (units; NaN: undeclared), e.g. 0.1 for a kWh counter x 0.1
    "resolution": (np.float64, 0, np.nan),
    # last reading
    "last_ts": (np.int64, 0, NO_TIME),
    "last_raw": (np.float64, 0, np.nan),
    "last_change_ts": (np.int64, 0, NO_TIME),
    # a counter's rate is modelled over the span since its anchor reading (a coarse register
    # read every few seconds moves by 0 or one step per reading): when it was, the amount
    # counted since (rollovers unwrapped) and the smallest step seen (its learnt resolution)
    "anchor_ts": (np.int64, 0, NO_TIME),
    "anchor_sum": (np.float64, 0, 0.0),
    "step_min": (np.float64, 0, np.inf),
    # smallest change of a (non-counter) value seen: its register's step when undeclared
    "value_step": (np.float64, 0, np.inf),
    "n": (np.float64, 0, 0.0),
    "moves": (np.float64, 0, 0.0),
    "span_s": (np.float64, 0, 0.0),
    # the current visit's squared innovations (summed in visits) and its bin (-1: none)
    "visit_sq": (np.float64, 0, 0.0),
    "visit_w": (np.float64, 0, 0.0),
    "visit_bin": (np.int64, 0, -1),
    # robust level / spread and its tail calibration
    "mu": (np.float64, 0, 0.0),
    "trend": (np.float64, 0, 0.0),
    "s": (np.float64, 0, 0.0),
    "q_spike": (np.float64, 0, 0.0),
    # seasonal tail calibration, drift chart
    "q_season": (np.float64, 0, 0.0),
    "e": (np.float64, 0, 0.0),
    "ve": (np.float64, 0, 0.0),
    "drift_age_s": (np.float64, 0, 0.0),
    # flatline surprise (nats), sampling interval mean / deviation (s)
    "flat": (np.float64, 0, 0.0),
    "dt_mean": (np.float64, 0, 0.0),
    "dt_dev": (np.float64, 0, 0.0),
    "n_dt": (np.float64, 0, 0.0),
    # novelty: range held so far, rate of new extremes, readings counted
    "nov_lo": (np.float64, 0, np.inf),
    "nov_hi": (np.float64, 0, -np.inf),
    "nov_rate": (np.float64, 0, 0.0),
    "nov_n": (np.float64, 0, 0.0),
    # reading count at the last alarm (refractory stretch)
    "alarm_r": (np.int64, 0, -(2**40)),
    # a young series' pending excursion (earlyarm.py): onset (NO_TIME: none), the modelled
    # value before it, how far it went, its peak score (0: it held, a regime change) and
    # detector; the last modelled value
    "ex_ts": (np.int64, 0, NO_TIME),
    "ex_base": (np.float64, 0, np.nan),
    "ex_far": (np.float64, 0, 0.0),
    "ex_peak": (np.float32, 0, 0.0),
    "ex_kind": (np.int8, 0, 0),
    "ex_prev": (np.float64, 0, np.nan),
    # event hysteresis
    "reads": (np.int64, 0, 0),
    "ev_open": (np.bool_, 0, False),
    "ev_start": (np.int64, 0, NO_TIME),
    "ev_peak": (np.float32, 0, 0.0),
    "ev_kind": (np.int8, 0, 0),
    "ev_hot_ts": (np.int64, 0, NO_TIME),
    "ev_hot_r": (np.int64, 0, -(2**40)),
    # seasonal profile: mean, mean absolute residual, visits seen, share of modelled
    # intervals with the value unchanged and their mean length (s): stillness per second
    "p_mean": (np.float32, BINS, 0.0),
    "p_dev": (np.float32, BINS, 0.0),
    "p_visits": (np.float32, BINS, 0.0),
    "p_still": (np.float32, BINS, 0.0),
    "p_dt": (np.float32, BINS, 0.0),
    # mean squared one-step innovation per bin: schedule ramps are routine in their hour
    "p_innov": (np.float32, BINS, 0.0),
}

Array = npt.NDArray[Any]


def bytes_per_series() -> int:
    """Carried state per series, in bytes (metadata included)."""
    return sum(np.dtype(dt).itemsize * max(1, bins) for dt, bins, _ in FIELDS.values())


@dataclass(slots=True)
class SeriesState:
    """All carried state: `arrays[name]` has shape (series,) or (series, BINS)."""

    arrays: dict[str, Array]

    @classmethod
    def empty(cls, size: int = 0) -> SeriesState:
        return cls({name: fresh_field(name, size) for name in FIELDS})

    def __len__(self) -> int:
        return int(self.arrays["last_ts"].shape[0])

    def grow(self, extra: int) -> None:
        """Append `extra` fresh series at the end."""
        for name, arr in self.arrays.items():
            self.arrays[name] = np.concatenate([arr, fresh_field(name, extra)])

    def take(self, rows: Array) -> dict[str, Array]:
        """Copies of the rows of every field, for one batch."""
        return {name: arr[rows] for name, arr in self.arrays.items()}

    def put(self, rows: Array, values: dict[str, Array]) -> None:
        """Write a batch's updated rows back."""
        for name, arr in self.arrays.items():
            arr[rows] = values[name]


def fresh_field(name: str, size: int) -> Array:
    """Initial values of one field for `size` new series."""
    dtype, bins, init = FIELDS[name]
    shape = (size, bins) if bins else (size,)
    return np.full(shape, init, dtype=dtype)
