"""The band a statistical model accepts for a series' next reading, for the "why" of an event.

An event's expected range must agree with its verdict: a spike event says "expected 120 to
175 kW, saw 10.9 kW" only if 120..175 is what the spike model would not have called a
spike. So the band is the set of values whose evidence stays under the score of 0.5
(`z_half`), from the same state the kernel judges the reading by, before it:

- spike: level + trend +- t x spread, the spread as the kernel's (the larger of the
  series-wide one and the hour's routine innovation), widened by the series' tail
  calibration (its tracked `tail_p` quantile over the Gaussian one), and t the Student-t
  statistic whose Gaussian equivalent (Wallace, with the kernel's degrees of freedom) is
  `z_half`;
- seasonal: the hull of the hour's bin mean +- t x its spread and of its warm neighbouring
  hours' (the kernel judges the best-fitting of the three), t likewise from the bin's visits.

Vectorized over series; NaN where the model does not score yet (a spike model before
`warmup_readings` moves, a bin before `season_warmup_visits` visits). The quantization floor
of a counter's rate is left out (a few register steps over the span: the band is at most
that much narrower than the kernel's).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from peakline_core.anomaly.config import AnomalyConfig
from peakline_core.anomaly.prepare import NS_PER_HOUR, seasonal_bins
from peakline_core.anomaly.state import BINS, Array

MAD_TO_SD = 1.2533141373155  # sqrt(pi/2), as in kernel.py


@dataclass(frozen=True, slots=True)
class Bands:
    """Per series: the spike model's and the seasonal profile's accepted band (NaN: none)."""

    spike_low: Array
    spike_high: Array
    season_low: Array
    season_high: Array


def t_at_z(z: float, dof: Array) -> Array:
    """The Student-t statistic with `dof` degrees of freedom whose Gaussian equivalent (the
    kernel's `t_to_z`, Wallace 1959) is `z`: its inverse."""
    dof = np.asarray(dof, dtype=np.float64)
    root = z * (8.0 * dof + 3.0) / (8.0 * dof + 1.0)
    t: Array = np.sqrt(dof * np.expm1(np.minimum(root * root / dof, 700.0)))
    return t


def neighbour_bins(bins: Array) -> tuple[Array, Array, Array]:
    """Local bins (0..47) of the hour before, the hour after and the other day type's hour."""
    hour, day = bins % 24, bins - bins % 24
    return day + (hour + 23) % 24, day + (hour + 1) % 24, (bins + 24) % BINS


def one_step(state: dict[str, Array], rows: Array, at_ns: Array, cfg: AnomalyConfig) -> Bands:
    """Bands of the series in state rows `rows` for a reading of each at `at_ns` (UTC ns),
    in the series' model units (a counter: units/s). Reads only the profile bins around each
    reading's hour (no copy of the profiles)."""
    zq = NormalDist().inv_cdf(1 - cfg.tail_p / 2)
    scalars = {k: state[k][rows] for k in ("mu", "trend", "s", "q_spike", "q_season", "moves",
                                           "span_s", "utc_offset_ns")}  # fmt: skip
    local = np.asarray(at_ns, dtype=np.int64) + scalars["utc_offset_ns"]
    own = seasonal_bins(local // NS_PER_HOUR)
    before, after, other = neighbour_bins(own)
    pv, pm, pd, pin = (state[k] for k in ("p_visits", "p_mean", "p_dev", "p_innov"))

    def at(a: Array, b: Array) -> Array:
        out: Array = a[rows, b].astype(np.float64)
        return out

    # spike: the kernel's spread, routine innovation of the neighbourhood included
    mu, trend, s = scalars["mu"], scalars["trend"], scalars["s"]
    visited = at(pv, own) >= 1.0
    near = np.maximum(np.where(at(pv, before) >= 1, at(pin, before), 0.0),
                      np.where(at(pv, after) >= 1, at(pin, after), 0.0))  # fmt: skip
    routine = np.where(visited, np.maximum(near, at(pin, own)),
                       np.maximum(near, at(pin, other) * (at(pv, other) >= 1)))  # fmt: skip
    sig = np.maximum(MAD_TO_SD * s + 1e-12 * (np.abs(mu) + 1.0), np.sqrt(routine))
    dof = np.maximum(np.minimum(scalars["moves"] - 2.0, scalars["span_s"] / cfg.spread_dof_s), 1)
    tail = np.maximum(np.where(scalars["q_spike"] > 0, scalars["q_spike"], zq), zq) / zq
    half = t_at_z(cfg.z_half, dof) * sig * tail
    warm = scalars["moves"] >= cfg.warmup_readings
    centre = mu + trend
    spike_low = np.where(warm, centre - half, np.nan)
    spike_high = np.where(warm, centre + half, np.nan)

    # seasonal: own bin and warm neighbours, each its mean +- t x its spread
    v_own = at(pv, own)
    t_se = t_at_z(cfg.z_half, np.maximum(v_own - 1.0, 0.5))
    q_se = np.maximum(np.where(scalars["q_season"] > 0, scalars["q_season"], zq), zq) / zq
    lows, highs = [], []
    for b in (own, before, after):
        v_b, m_b = at(pv, b), at(pm, b)
        spread = MAD_TO_SD * np.sqrt(1.0 + 1.0 / np.maximum(v_b, 1.0))
        sig_b = spread * np.maximum(at(pd, b), 0.25 * s) + 1e-12 * (np.abs(m_b) + 1.0)
        ok = v_b >= cfg.season_warmup_visits
        w = t_se * sig_b * q_se
        lows.append(np.where(ok, m_b - w, np.nan))
        highs.append(np.where(ok, m_b + w, np.nan))
    own_warm = v_own >= cfg.season_warmup_visits  # the kernel scores only in a warm own bin
    season_low = np.where(own_warm, np.fmin.reduce(lows), np.nan)
    season_high = np.where(own_warm, np.fmax.reduce(highs), np.nan)
    return Bands(spike_low, spike_high, season_low, season_high)
