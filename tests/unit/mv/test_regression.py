"""Retrofit M&V: the baseline recovers known physics; savings are found when they exist and are
indistinguishable from zero when they do not; fitting is the same jointly or per site."""

from __future__ import annotations

import numpy as np
import pytest

from peakline_core.mv import BaselineError, fit_baseline, predict, savings

DAYS = np.arange(365)
WEEKEND = DAYS % 7 >= 5


def climate(rng: np.random.Generator, sites: int) -> np.ndarray:
    return 10 - 12 * np.cos(2 * np.pi * (DAYS - 20) / 365) + rng.normal(0, 3, (sites, 365))


def building(temp: np.ndarray, heating: float = 25.0, noise=None) -> np.ndarray:
    load = 400 + heating * np.maximum(0, 15 - temp) + 30 * np.maximum(0, temp - 22) - 120 * WEEKEND
    return load if noise is None else load * noise


def test_baseline_recovers_balance_points_and_slopes() -> None:
    rng = np.random.default_rng(7)
    temp = climate(rng, 20)
    model = fit_baseline(building(temp, noise=rng.normal(1, 0.03, temp.shape)), temp, WEEKEND)
    assert np.all(np.abs(model.heating_base_c - 15) <= 1)
    assert np.all(np.abs(model.cooling_base_c - 22) <= 1)
    assert np.allclose(model.coef[:, 1], 25, rtol=0.15)
    assert np.allclose(model.coef[:, 3], -120, rtol=0.2)
    assert model.fit_for_purpose.all()
    assert all(w == [] for w in model.warnings())


def test_exact_data_gives_exact_model() -> None:
    temp = climate(np.random.default_rng(1), 1)
    model = fit_baseline(building(temp), temp, WEEKEND)
    assert model.heating_base_c[0] == 15
    assert model.cooling_base_c[0] == 22
    assert np.allclose(model.coef[0], [400, 25, 30, -120], atol=1e-6)
    assert model.cv_rmse[0] < 1e-9


def test_retrofit_savings_are_detected_within_uncertainty() -> None:
    rng = np.random.default_rng(11)
    before, after = climate(rng, 30), climate(rng, 30)
    model = fit_baseline(building(before, noise=rng.normal(1, 0.05, before.shape)), before, WEEKEND)
    actual = building(after, heating=25 * 0.7, noise=rng.normal(1, 0.05, after.shape))
    report = savings(model, actual, after, WEEKEND, confidence=0.95)
    truth = (0.3 * 25 * np.maximum(0, 15 - after)).sum(axis=1)
    assert report.significant.all()
    covered = np.abs(report.avoided_kwh - truth) <= report.uncertainty_kwh
    assert covered.mean() >= 0.8  # a 95 % interval; allow sampling variation over 30 sites
    assert np.allclose(report.avoided_kwh.sum(), truth.sum(), rtol=0.05)


def test_no_change_gives_savings_indistinguishable_from_zero() -> None:
    rng = np.random.default_rng(5)
    before, after = climate(rng, 40), climate(rng, 40)
    model = fit_baseline(building(before, noise=rng.normal(1, 0.05, before.shape)), before, WEEKEND)
    actual = building(after, noise=rng.normal(1, 0.05, after.shape))
    report = savings(model, actual, after, WEEKEND, confidence=0.95)
    assert report.significant.mean() <= 0.15
    assert abs(report.avoided_kwh.sum()) < np.sqrt((report.uncertainty_kwh**2).sum())


def test_joint_fit_equals_per_site_fits() -> None:
    rng = np.random.default_rng(3)
    temp = climate(rng, 4)
    energy = building(temp, noise=rng.normal(1, 0.05, temp.shape))
    joint = fit_baseline(energy, temp, WEEKEND)
    for s in range(4):
        alone = fit_baseline(energy[s : s + 1], temp[s : s + 1], WEEKEND)
        assert np.allclose(alone.coef[0], joint.coef[s])
        assert alone.cv_rmse[0] == pytest.approx(joint.cv_rmse[s])


def test_missing_days_are_ignored_not_zero() -> None:
    rng = np.random.default_rng(9)
    temp = climate(rng, 1)
    energy = building(temp, noise=rng.normal(1, 0.02, temp.shape))
    holed = energy.copy()
    holed[0, 100:160] = np.nan
    model = fit_baseline(holed, temp, WEEKEND)
    assert model.n[0] == 305
    assert np.allclose(model.coef[0, 1], 25, rtol=0.1)
    assert np.isfinite(predict(model, temp, WEEKEND)).all()


def test_noisy_baseline_is_flagged_not_fit_for_purpose() -> None:
    rng = np.random.default_rng(2)
    temp = climate(rng, 1)
    model = fit_baseline(building(temp, noise=rng.normal(1, 0.4, temp.shape)), temp, WEEKEND)
    assert not model.fit_for_purpose[0]
    assert "CV(RMSE)" in model.warnings()[0][0]


def test_too_little_data_is_an_error() -> None:
    with pytest.raises(BaselineError):
        fit_baseline(np.ones((1, 5)), np.ones((1, 5)), np.zeros(5))
