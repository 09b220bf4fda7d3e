"""Retrofit measurement and verification: whole-facility baseline regression (IPMVP Option C).

The baseline model, fitted on the pre-retrofit period for many sites at once, is

    E_day = b0 + bh * HDD(Th) + bc * CDD(Tc) + bw * weekend

where HDD(Th) = max(0, Th - T_out) and CDD(Tc) = max(0, T_out - Tc) use each site's own
balance temperatures, chosen by least squares over a grid (a change-point model, as in ASHRAE
RP-1050 / Guideline 14's 5-parameter models). Every candidate (Th, Tc) is fitted for every
site in one batched solve of 4x4 normal equations, so nothing loops per site or per day.

Goodness of fit follows ASHRAE Guideline 14-2014: CV(RMSE) and NMBE with (n - p) degrees of
freedom. Savings uncertainty uses Guideline 14's fractional savings uncertainty (FSU), with the
effective number of points reduced for lag-1 autocorrelation of the residuals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from peakline_core.errors import PeaklineError

F64 = npt.NDArray[np.float64]
BOOL = npt.NDArray[np.bool_]

HEATING_BASES: Final = np.arange(8.0, 21.0, 1.0)  # degC
COOLING_BASES: Final = np.arange(16.0, 29.0, 1.0)  # degC
PARAMETERS: Final = 4
MAX_CV_RMSE: Final = 0.20
"""Guideline 14 whole-building limit for energy use (fraction): above it, say so."""
MAX_ABS_NMBE: Final = 0.005
"""Guideline 14 limit on net mean bias (fraction)."""
# Student t for two-sided 68/80/90/95 % confidence, large n (Guideline 14 uses t for n - p).
_T_BY_CONFIDENCE: Final = {0.68: 1.0, 0.8: 1.282, 0.9: 1.645, 0.95: 1.96}


class BaselineError(PeaklineError, ValueError):
    """The baseline period cannot support a model (too few valid days, no variance)."""


@dataclass(frozen=True, slots=True)
class BaselineModel:
    """Fitted baselines for S sites. Arrays are per site."""

    coef: F64  # [S, 4]: intercept kWh/day, kWh/degC-day heating, cooling, weekend kWh/day
    heating_base_c: F64  # [S]
    cooling_base_c: F64  # [S]
    n: npt.NDArray[np.int64]  # [S] valid baseline days
    cv_rmse: F64  # [S] fraction
    nmbe: F64  # [S] fraction
    r2: F64  # [S]
    rho: F64  # [S] lag-1 autocorrelation of residuals
    mean_kwh: F64  # [S] mean baseline daily energy

    @property
    def fit_for_purpose(self) -> BOOL:
        """Sites whose baseline meets the Guideline 14 CV(RMSE) and NMBE limits."""
        ok: BOOL = (self.cv_rmse <= MAX_CV_RMSE) & (np.abs(self.nmbe) <= MAX_ABS_NMBE)
        return ok

    def warnings(self) -> list[list[str]]:
        """Human-readable reasons, per site, why a baseline is not fit for purpose."""
        out: list[list[str]] = []
        for s in range(self.coef.shape[0]):
            msgs = []
            if self.cv_rmse[s] > MAX_CV_RMSE:
                msgs.append(
                    f"CV(RMSE) {self.cv_rmse[s]:.1%} exceeds {MAX_CV_RMSE:.0%}: savings will be"
                    " uncertain; use more baseline data or a finer model"
                )
            if abs(self.nmbe[s]) > MAX_ABS_NMBE:
                msgs.append(f"NMBE {self.nmbe[s]:.2%} exceeds ±{MAX_ABS_NMBE:.1%}")
            if self.n[s] < 90:
                msgs.append(f"only {int(self.n[s])} baseline days (a full year is recommended)")
            out.append(msgs)
        return out


@dataclass(frozen=True, slots=True)
class SavingsReport:
    """Avoided energy over a reporting period, per site (kWh), with its uncertainty."""

    baseline_kwh: F64  # [S] adjusted baseline: the model under reporting-period conditions
    actual_kwh: F64  # [S]
    avoided_kwh: F64  # [S] baseline - actual (positive = savings)
    uncertainty_kwh: F64  # [S] half-width of the confidence interval on avoided_kwh
    confidence: float
    fraction: F64  # [S] avoided / baseline
    days: npt.NDArray[np.int64]  # [S] valid reporting days

    @property
    def significant(self) -> BOOL:
        """Sites whose savings differ from zero at the stated confidence."""
        sig: BOOL = np.abs(self.avoided_kwh) > self.uncertainty_kwh
        return sig


def _design(temp: F64, weekend: F64, th: F64, tc: F64) -> F64:
    """[..., N, 4] design matrices for balance temperatures th, tc broadcast over sites."""
    hdd = np.maximum(0.0, th[..., None] - temp)
    cdd = np.maximum(0.0, temp - tc[..., None])
    ones = np.ones_like(hdd)
    return np.stack([ones, hdd, cdd, np.broadcast_to(weekend, hdd.shape)], axis=-1)


def _solve(x: F64, y: F64, w: F64) -> tuple[F64, F64]:
    """Weighted least squares per leading index; returns (coef [...,4], sse [...])."""
    xw = x * w[..., None]
    xtx = np.einsum("...ni,...nj->...ij", xw, x)
    xty = np.einsum("...ni,...n->...i", xw, y)
    # A tiny ridge keeps all-zero HDD/CDD columns (mild climates) solvable; it does not bias
    # any term that has data.
    xtx = xtx + np.eye(PARAMETERS) * 1e-9
    coef = np.linalg.solve(xtx, xty[..., None])[..., 0]
    resid = (y - np.einsum("...ni,...i->...n", x, coef)) * w
    return coef, np.einsum("...n,...n->...", resid, resid)


def fit_baseline(energy_kwh: F64, temp_c: F64, weekend: BOOL | F64) -> BaselineModel:
    """Fit baselines for S sites from N baseline days.

    energy_kwh, temp_c: [S, N] daily energy (kWh) and mean outdoor temperature (degC); NaN
    marks a missing day. weekend: [N] or [S, N], true on non-working days.
    """
    y = np.atleast_2d(np.asarray(energy_kwh, dtype=np.float64))
    t = np.atleast_2d(np.asarray(temp_c, dtype=np.float64))
    wk = np.broadcast_to(np.asarray(weekend, dtype=np.float64), y.shape)
    valid = np.isfinite(y) & np.isfinite(t)
    n = valid.sum(axis=1)
    if (n <= PARAMETERS + 2).any():
        raise BaselineError(f"sites need more than {PARAMETERS + 2} valid baseline days")
    w = valid.astype(np.float64)
    y0 = np.where(valid, y, 0.0)
    t0 = np.where(valid, t, 0.0)

    th_grid, tc_grid = np.meshgrid(HEATING_BASES, COOLING_BASES, indexing="ij")
    keep = tc_grid >= th_grid
    th_c, tc_c = th_grid[keep], tc_grid[keep]  # [C] candidate pairs
    s_count = y.shape[0]
    x = _design(t0[:, None, :], wk[:, None, :], th_c[None, :], tc_c[None, :])  # [S, C, N, 4]
    coef_c, sse_c = _solve(x, y0[:, None, :], w[:, None, :])
    # Physically, consumption does not fall as it gets colder (below Th) or hotter (above Tc):
    # candidates with negative heating or cooling slopes are not eligible.
    sse_c = np.where((coef_c[..., 1] < -1e-9) | (coef_c[..., 2] < -1e-9), np.inf, sse_c)
    best = np.argmin(sse_c, axis=1)
    rows = np.arange(s_count)
    coef = coef_c[rows, best]
    if not np.isfinite(sse_c[rows, best]).all():
        # No eligible candidate: fall back to the unconstrained best fit for those sites.
        raw = np.argmin(_solve(x, y0[:, None, :], w[:, None, :])[1], axis=1)
        bad = ~np.isfinite(sse_c[rows, best])
        best = np.where(bad, raw, best)
        coef = coef_c[rows, best]
    th, tc = th_c[best], tc_c[best]

    pred = np.einsum("sni,si->sn", _design(t0, wk, th, tc), coef)
    resid = np.where(valid, y0 - pred, 0.0)
    mean = (y0 * w).sum(axis=1) / n
    dof = n - PARAMETERS
    sse = (resid**2).sum(axis=1)
    sst = (((y0 - mean[:, None]) * w) ** 2).sum(axis=1)
    cv = np.sqrt(sse / dof) / mean
    nmbe = resid.sum(axis=1) / (dof * mean)
    r2 = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), 0.0)
    return BaselineModel(
        coef=coef,
        heating_base_c=th,
        cooling_base_c=tc,
        n=n.astype(np.int64),
        cv_rmse=cv,
        nmbe=nmbe,
        r2=r2,
        rho=_lag1_autocorrelation(resid, valid),
        mean_kwh=mean,
    )


def _lag1_autocorrelation(resid: F64, valid: BOOL) -> F64:
    pair = valid[:, 1:] & valid[:, :-1]
    num = np.where(pair, resid[:, 1:] * resid[:, :-1], 0.0).sum(axis=1)
    den = (resid**2).sum(axis=1)
    rho = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return np.clip(rho, -0.99, 0.99)


def predict(model: BaselineModel, temp_c: F64, weekend: BOOL | F64) -> F64:
    """Baseline daily energy (kWh) under the given conditions, [S, M]."""
    t = np.atleast_2d(np.asarray(temp_c, dtype=np.float64))
    wk = np.broadcast_to(np.asarray(weekend, dtype=np.float64), t.shape)
    x = _design(t, wk, model.heating_base_c, model.cooling_base_c)
    out: F64 = np.einsum("sni,si->sn", x, model.coef)
    return out


def savings(
    model: BaselineModel,
    energy_kwh: F64,
    temp_c: F64,
    weekend: BOOL | F64,
    confidence: float = 0.9,
) -> SavingsReport:
    """Avoided energy in the reporting period (kWh) with Guideline 14 uncertainty.

    Uncertainty (absolute, kWh) = t * 1.26 * CV * sqrt((n / n') * (1 + 2/n) / m) * E_base,
    where n' = n (1 - rho) / (1 + rho) corrects for autocorrelated residuals, m is the number of
    reporting days and E_base the adjusted baseline (Guideline 14-2014, Annex B, eq. B-14 form).
    """
    if confidence not in _T_BY_CONFIDENCE:
        raise ValueError(f"confidence must be one of {sorted(_T_BY_CONFIDENCE)}")
    y = np.atleast_2d(np.asarray(energy_kwh, dtype=np.float64))
    t = np.atleast_2d(np.asarray(temp_c, dtype=np.float64))
    valid = np.isfinite(y) & np.isfinite(t)
    base = predict(model, np.where(valid, t, 0.0), weekend)
    base_kwh = np.where(valid, base, 0.0).sum(axis=1)
    actual_kwh = np.where(valid, y, 0.0).sum(axis=1)
    avoided = base_kwh - actual_kwh
    m = valid.sum(axis=1)
    n = model.n.astype(np.float64)
    n_eff = n * (1.0 - model.rho) / (1.0 + model.rho)
    factor = np.sqrt((n / n_eff) * (1.0 + 2.0 / n) / np.maximum(m, 1))
    uncertainty = _T_BY_CONFIDENCE[confidence] * 1.26 * model.cv_rmse * factor * base_kwh
    fraction = np.where(base_kwh > 0, avoided / np.where(base_kwh > 0, base_kwh, 1.0), 0.0)
    return SavingsReport(
        baseline_kwh=base_kwh,
        actual_kwh=actual_kwh,
        avoided_kwh=avoided,
        uncertainty_kwh=uncertainty,
        confidence=confidence,
        fraction=fraction,
        days=m.astype(np.int64),
    )
