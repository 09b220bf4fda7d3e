"""Retrofit M&V against firmware-sim: a building whose heating demand drops from a date is
detected and quantified within the stated uncertainty; an unchanged building is not.

The meter is rendered offline (firmware_sim.render), aggregated to daily kWh and daily mean
outdoor temperature (the HVAC controller's outdoor_temp point), and handed to
peakline_core.mv. The true savings are the difference to the same scenario without retrofit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from firmware_sim import Scenario, load_profiles, render
from peakline_core.mv import fit_baseline, savings

REPO = Path(__file__).resolve().parents[3]
START = datetime(2025, 1, 6, tzinfo=UTC)
NS = 10**9
DAY_NS = 86400 * NS
BASELINE_DAYS, REPORTING_DAYS = 120, 60
RETROFIT_AT = START + timedelta(days=BASELINE_DAYS)


@pytest.fixture(scope="module")
def profiles() -> dict:
    return load_profiles(REPO / "config" / "profiles")


def scenario(retrofit: bool, seed: int = 11) -> Scenario:
    physics: dict = {"base_kw": 10.0, "peak_kw": 60.0}
    if retrofit:
        physics["retrofit"] = {"from": RETROFIT_AT.isoformat(), "heating_reduction": 0.4}
    return Scenario.model_validate(
        {
            "seed": seed,
            "start": START.isoformat(),
            "physics_step_s": 600,
            "utc_offset_h": 0,  # local days are UTC days, so daily sums align with weekends
            "devices": [
                {"id": "m", "profile": "sdm630", "physics": physics},
                {"id": "h", "profile": "hvac-controller"},
            ],
        }
    )


def daily(sc: Scenario, profiles: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily kWh [D], daily mean outdoor degC [D] and weekend flags [D] (local days)."""
    t0 = int(START.timestamp()) * NS
    days = BASELINE_DAYS + REPORTING_DAYS
    r = render(sc, profiles, t0, t0 + days * DAY_NS, 900)
    power_w = r.values[("m", "power_total")].reshape(days, -1)
    temp = r.values[("h", "outdoor_temp")].reshape(days, -1)
    kwh = power_w.mean(axis=1) * 24.0 / 1000.0
    weekday = np.array([(START + timedelta(days=d)).weekday() for d in range(days)])
    return kwh, temp.mean(axis=1), weekday >= 5


def test_retrofit_is_detected_within_uncertainty(profiles) -> None:
    kwh, temp, weekend = daily(scenario(retrofit=True), profiles)
    untouched, _, _ = daily(scenario(retrofit=False), profiles)
    b, r = slice(0, BASELINE_DAYS), slice(BASELINE_DAYS, None)
    model = fit_baseline(kwh[None, b], temp[None, b], weekend[b])
    assert model.fit_for_purpose[0], model.warnings()
    report = savings(model, kwh[None, r], temp[None, r], weekend[r], confidence=0.9)
    true_kwh = float(untouched[r].sum() - kwh[r].sum())
    assert true_kwh > 0
    assert report.significant[0]
    assert abs(report.avoided_kwh[0] - true_kwh) <= report.uncertainty_kwh[0]
    # The uncertainty is informative: well under the savings themselves.
    assert report.uncertainty_kwh[0] < 0.5 * true_kwh
    print(
        f"true {true_kwh:.0f} kWh, estimated {report.avoided_kwh[0]:.0f} ± "
        f"{report.uncertainty_kwh[0]:.0f} kWh (90 %), CV(RMSE) {model.cv_rmse[0]:.1%}, "
        f"NMBE {model.nmbe[0]:.3%}"
    )


def test_no_change_reports_savings_indistinguishable_from_zero(profiles) -> None:
    kwh, temp, weekend = daily(scenario(retrofit=False, seed=5), profiles)
    b, r = slice(0, BASELINE_DAYS), slice(BASELINE_DAYS, None)
    model = fit_baseline(kwh[None, b], temp[None, b], weekend[b])
    report = savings(model, kwh[None, r], temp[None, r], weekend[r], confidence=0.9)
    assert not report.significant[0]
    assert abs(report.avoided_kwh[0]) <= report.uncertainty_kwh[0]
