"""Operator feedback: a false alarm teaches its series which pattern is normal.

An operator's `false_alarm` verdict on an incident becomes one `Dismissal` per point of the
incident: the detector that peaked on that point, the band of what the point read during
the incident (`dismissed_band`: its values and seen value, extended to the near edge of the
expected range, so a milder deviation the same way is the same pattern), the peak score, and
when the verdict was given. From then on a reading of that series, judged by that detector,
whose modelled value lies within the band widened by `margin` of its width opens no event
(and keeps none open); a band-less dismissal (nothing read, e.g. no stored readings) mutes
scores no higher than its peak plus `score_margin`. A clearly worse deviation (outside the
widened band) still opens an event.

Pure and deterministic: the table is a function of the stored verdicts only, so a restarted
or a second deriver builds the same one. Scoring stays vectorized: `DismissalSlots.mutes`
compares a [time, series] batch against at most `slots` dismissals per series.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from peakline_core.anomaly.config import DETECTORS
from peakline_core.anomaly.state import Array

Verdict = Literal["confirmed", "false_alarm"]
VERDICTS: Final[tuple[Verdict, ...]] = ("confirmed", "false_alarm")
SLOTS: Final = 4
"""Dismissals kept per series (the latest by when they were given)."""
_NONE: Final = -1


@dataclass(frozen=True, slots=True)
class Dismissal:
    """A false alarm on one series (`site/device/point`). `low`/`high` bound what it read
    during the incident in the engine's model units (a counter's rate, units/s), NaN when
    unknown; `peak` is its peak score (0..1); it applies to readings from `since_ns` (UTC
    ns, when the verdict was given)."""

    series: str
    detector: str
    since_ns: int
    low: float
    high: float
    peak: float


def dismissed_band(
    values: Sequence[float],
    seen: float | None = None,
    expected_low: float | None = None,
    expected_high: float | None = None,
) -> tuple[float, float]:
    """The band a dismissed incident read over (its values during the incident and the value
    seen at its peak), extended to the near edge of the expected range when it lies wholly
    beyond it; (NaN, NaN) when nothing was read. Units are the caller's (model units)."""
    seen_list = [] if seen is None else [seen]
    got = np.asarray([*values, *seen_list], dtype=np.float64)
    got = got[np.isfinite(got)]
    if got.size == 0:
        return float("nan"), float("nan")
    low, high = float(got.min()), float(got.max())
    if expected_high is not None and np.isfinite(expected_high) and low > expected_high:
        low = float(expected_high)
    if expected_low is not None and np.isfinite(expected_low) and high < expected_low:
        high = float(expected_low)
    return low, high


def widen(low: float, high: float, margin: float) -> tuple[float, float]:
    """`low..high` widened on both sides by `margin` of its width (of a tenth of its
    magnitude when it is a single value, so a constant band still has room)."""
    width = high - low
    pad = margin * (width if width > 0 else 0.1 * max(abs(low), abs(high)))
    return low - pad, high + pad


@dataclass(frozen=True, slots=True)
class DismissalSlots:
    """The dismissals of one batch's series that have any: `cols` are their positions in the
    batch, the rest [len(cols), slot] arrays (`detector` -1: empty slot; `low`/`high`
    already widened)."""

    cols: Array
    detector: Array
    low: Array
    high: Array
    peak: Array
    since: Array

    def mutes(self, det: Array, x: Array, score: Array, ts: Array) -> Array:
        """Readings ([time, series]: detector index, modelled value, score, UTC ns) that
        match a dismissal of their series: bool [time, series]."""
        out = np.zeros(det.shape, dtype=bool)
        c = self.cols
        det, x, score, ts = det[:, c], x[:, c], score[:, c], ts[:, c]
        hit = np.zeros(det.shape, dtype=bool)
        banded = np.isfinite(self.low)
        with np.errstate(invalid="ignore"):
            for k in range(self.detector.shape[1]):
                kind = self.detector[:, k]
                if not (kind != _NONE).any():
                    continue
                in_band = (x >= self.low[:, k]) & (x <= self.high[:, k])
                below_peak = score <= self.peak[:, k]
                pattern = np.where(banded[:, k], in_band, below_peak)
                hit |= (det == kind) & (ts >= self.since[:, k]) & pattern
        out[:, c] = hit
        return out


class DismissalTable:
    """Every series' dismissals, looked up per batch by series key."""

    def __init__(
        self,
        dismissals: Iterable[Dismissal] = (),
        margin: float = 0.25,
        score_margin: float = 0.05,
        slots: int = SLOTS,
    ) -> None:
        by_series: dict[str, list[Dismissal]] = {}
        for d in dismissals:
            if d.detector not in DETECTORS:
                continue
            by_series.setdefault(d.series, []).append(d)
        self.slots = slots
        self.margin = margin
        self.score_margin = score_margin
        self._rows: dict[str, int] = {}
        n = len(by_series)
        self._det = np.full((n + 1, slots), _NONE, np.int8)  # the last row: no dismissal
        self._low = np.full((n + 1, slots), np.nan)
        self._high = np.full((n + 1, slots), np.nan)
        self._peak = np.full((n + 1, slots), -np.inf)
        self._since = np.zeros((n + 1, slots), np.int64)
        for i, (series, found) in enumerate(sorted(by_series.items())):
            self._rows[series] = i
            latest = sorted(found, key=lambda d: (d.since_ns, d.detector))[-slots:]
            for k, d in enumerate(latest):
                self._det[i, k] = DETECTORS.index(d.detector)
                if np.isfinite(d.low) and np.isfinite(d.high):
                    self._low[i, k], self._high[i, k] = widen(d.low, d.high, margin)
                self._peak[i, k] = d.peak + score_margin
                self._since[i, k] = d.since_ns

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, series: object) -> bool:
        return series in self._rows

    def rows_of(self, keys: Sequence[str]) -> Array:
        """Each key's row in the table (the empty row when it has no dismissal)."""
        empty = len(self._rows)
        return np.fromiter((self._rows.get(k, empty) for k in keys), np.int64, len(keys))

    def take(self, rows: Array) -> DismissalSlots | None:
        """The slots of table rows `rows` (from `rows_of`, one per series of a batch) that
        have a dismissal; None when none has."""
        cols = np.flatnonzero(rows < len(self._rows))
        if cols.size == 0:
            return None
        r = rows[cols]
        return DismissalSlots(
            cols, self._det[r], self._low[r], self._high[r], self._peak[r], self._since[r]
        )
