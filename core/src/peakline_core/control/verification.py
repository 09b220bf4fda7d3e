"""Demand-response baselines and verification, vectorized over sites: arrays `[site, slot]`.

Baselines (documented in docs/control.md):

- `similar_days`: for each slot of the event window, the mean load of the same clock slots
  on the N most recent similar days (weekday with weekday, weekend with weekend; the
  "X of Y" family used by utility DR programmes, without the high-X selection), optionally
  scaled by a same-day adjustment from the hour before the event (capped at +-20 %).
- `pre_event`: the mean load over a window right before the event, held flat. Used for
  short events with little history (and in tests with simulated buildings).

Delivered shed = baseline - actual per slot (kW); energy shed = sum(shed * slot h) (kWh);
avoided emissions = sum(shed kWh * marginal factor gCO2e/kWh) / 1000 (kg).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
ADJUSTMENT_CAP = 0.2


def resample_mean(
    ts_ns: npt.NDArray[np.int64], values: F64, start_ns: int, step_ns: int, n: int
) -> F64:
    """Mean of `values` (any unit) in `n` slots of `step_ns` from `start_ns` (UTC ns); NaN for
    slots without samples. One bincount, no Python loop per sample."""
    idx = (ts_ns - start_ns) // step_ns
    keep = (idx >= 0) & (idx < n) & np.isfinite(values)
    i = idx[keep].astype(np.intp)
    sums = np.bincount(i, weights=values[keep], minlength=n)
    counts = np.bincount(i, minlength=n)
    out = np.full(n, np.nan)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out


def similar_days_baseline(
    history_kw: F64, pre_actual_kw: F64 | None = None, pre_history_kw: F64 | None = None
) -> F64:
    """Baseline `[site, slot]` (kW) from `history_kw` `[site, day, slot]`: the NaN-aware mean
    over days. With the hour before the event (`pre_actual_kw` `[site, k]` and the same
    slots on the history days `pre_history_kw` `[site, day, k]`) it is scaled by
    actual/baseline of that hour, capped at +-20 %."""
    with np.errstate(invalid="ignore"):
        base = _nanmean(history_kw, axis=1)
        if pre_actual_kw is None or pre_history_kw is None:
            return base
        ratio = _nanmean(pre_actual_kw, axis=1) / _nanmean(_nanmean(pre_history_kw, axis=1), axis=1)
    ratio = np.where(np.isfinite(ratio), ratio, 1.0)
    ratio = np.clip(ratio, 1 - ADJUSTMENT_CAP, 1 + ADJUSTMENT_CAP)
    return base * ratio[:, None]


def pre_event_baseline(pre_kw: F64, slots: int) -> F64:
    """Baseline `[site, slots]` (kW): the mean of `pre_kw` `[site, k]` held flat."""
    return np.repeat(_nanmean(pre_kw, axis=1)[:, None], slots, axis=1)


def _nanmean(a: F64, axis: int) -> F64:
    counts = np.sum(np.isfinite(a), axis=axis)
    sums = np.nansum(a, axis=axis)
    out = np.full(sums.shape, np.nan)
    np.divide(sums, counts, out=out, where=counts > 0)
    return out


@dataclass(frozen=True, slots=True)
class Verification:
    """Per site (arrays of length `site`): what the event delivered against the baseline."""

    baseline_kw: F64  # mean baseline load over the event, kW
    actual_kw: F64  # mean metered load over the event, kW
    shed_kw: F64  # mean delivered reduction, kW (baseline - actual)
    shed_kwh: F64  # energy not drawn, kWh
    avoided_kg: F64  # avoided emissions, kg CO2e
    coverage: F64  # share of event slots with both baseline and actual, 0..1


def verify(
    baseline_kw: F64, actual_kw: F64, slot_s: float | F64, factor_g_per_kwh: F64 | float
) -> Verification:
    """Compare `actual_kw` with `baseline_kw` (both `[site, slot]`, kW) and price the shed
    energy at the marginal `factor_g_per_kwh` (scalar or `[site]`). `slot_s` is the slot
    length in s, or `[slot]` lengths when the last slot is cut by the event's end; means are
    weighted by it."""
    both = np.isfinite(baseline_kw) & np.isfinite(actual_kw)
    dur = np.broadcast_to(np.asarray(slot_s, dtype=np.float64), baseline_kw.shape[-1:])
    w = np.where(both, dur[None, :], 0.0)
    weight = w.sum(axis=1)
    n = np.where(weight > 0, weight, np.nan)  # no overlapping slot: means are NaN, not 0
    base = np.where(both, baseline_kw, 0.0)
    act = np.where(both, actual_kw, 0.0)
    shed_kwh = ((base - act) * w).sum(axis=1) / 3600.0
    factor = np.broadcast_to(np.asarray(factor_g_per_kwh, dtype=np.float64), shed_kwh.shape)
    total = float(dur.sum())
    return Verification(
        baseline_kw=(base * w).sum(axis=1) / n,
        actual_kw=(act * w).sum(axis=1) / n,
        shed_kw=((base - act) * w).sum(axis=1) / n,
        shed_kwh=shed_kwh,
        avoided_kg=shed_kwh * factor / 1000.0,
        coverage=weight / total if total > 0 else np.zeros_like(weight),
    )


def lowest_intensity_window(intensity: F64, slots: int) -> int:
    """Start index of the `slots`-long window of `intensity` (gCO2e/kWh per slot) with the
    lowest mean: where to schedule a deferrable load (carbon-aware). Raises ValueError when
    the horizon is shorter than the load."""
    if slots < 1 or slots > intensity.shape[0]:
        raise ValueError(f"a {slots}-slot load does not fit a {intensity.shape[0]}-slot horizon")
    csum = np.concatenate(([0.0], np.cumsum(np.nan_to_num(intensity, nan=np.inf))))
    sums = csum[slots:] - csum[:-slots]
    return int(np.argmin(sums))
