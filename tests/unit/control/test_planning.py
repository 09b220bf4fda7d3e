"""DR planning from site flexibility, baselines and verification maths."""

from __future__ import annotations

import numpy as np
import pytest

from peakline_core.config import Site, WriteLimits
from peakline_core.control import (
    lowest_intensity_window,
    plan_site,
    pre_event_baseline,
    resample_mean,
    similar_days_baseline,
    site_target_kw,
    verify,
)

SITE = Site.model_validate(
    {
        "id": "s1",
        "name": "School",
        "city": "c",
        "district": "d",
        "floor_area_m2": 1000,
        "grid_region": "R",
        "flexibility": [
            {
                "device": "hvac",
                "point": "setpoint",
                "kind": "setpoint_offset",
                "offset": 3,
                "kw_per_unit": 4.0,
            },
            {
                "device": "pump",
                "point": "running",
                "kind": "deferrable",
                "value": False,
                "kw": 5.0,
                "priority": 1,
            },
        ],
    }
)
LIMITS = {("hvac", "setpoint"): WriteLimits(min=16, max=28, step=0.5, max_rate_per_min=4)}


def test_partial_offset_rounded_up_to_step() -> None:
    plan = plan_site(SITE, 5.0, {("hvac", "setpoint"): 22.0}, LIMITS)
    (action,) = plan.actions
    assert action.value == 23.5 and action.previous == 22.0  # 1.25 degC -> 1.5 on the grid
    assert plan.expected_kw == pytest.approx(6.0)
    assert plan.shortfall_kw == 0


def test_offset_exhausted_then_deferrable() -> None:
    plan = plan_site(SITE, 15.0, {("hvac", "setpoint"): 22.0}, LIMITS)
    assert [a.point for a in plan.actions] == ["setpoint", "running"]
    assert plan.actions[0].value == 25.0
    assert plan.expected_kw == pytest.approx(17.0)


def test_offset_clamped_by_max_and_unknown_current() -> None:
    plan = plan_site(SITE, 12.0, {("hvac", "setpoint"): 27.5}, LIMITS)
    assert plan.actions[0].value == 28.0
    none = plan_site(SITE, 4.0, {}, LIMITS)
    assert [a.point for a in none.actions] == ["running"] and none.skipped


def test_percent_target() -> None:
    assert site_target_kw(None, 10, 200.0) == 20.0
    assert site_target_kw(7.0, None, None) == 7.0
    with pytest.raises(ValueError):
        site_target_kw(None, 10, None)


def test_resample_mean() -> None:
    ts = np.array([0, 1, 10, 11, 25, 99], dtype=np.int64)
    v = np.array([1.0, 3.0, 5.0, np.nan, 7.0, 9.0])
    out = resample_mean(ts, v, 0, 10, 3)
    np.testing.assert_allclose(out, [2.0, 5.0, 7.0])
    assert np.isnan(resample_mean(ts, v, 200, 10, 1)[0])


def test_similar_days_with_capped_adjustment() -> None:
    hist = np.array([[[10.0, 20.0], [30.0, np.nan]]])  # 1 site, 2 days, 2 slots
    np.testing.assert_allclose(similar_days_baseline(hist), [[20.0, 20.0]])
    pre_hist = np.array([[[10.0], [10.0]]])
    adj = similar_days_baseline(hist, np.array([[100.0]]), pre_hist)
    np.testing.assert_allclose(adj, [[24.0, 24.0]])  # ratio 10 capped at 1.2


def test_verify_shed_energy_and_emissions() -> None:
    base = pre_event_baseline(np.array([[100.0, 100.0], [50.0, np.nan]]), 4)
    actual = np.array([[80.0, 80.0, 80.0, 80.0], [50.0, 40.0, np.nan, 40.0]])
    v = verify(base, actual, 900.0, np.array([500.0, 1000.0]))
    np.testing.assert_allclose(v.shed_kw, [20.0, 20.0 / 3])
    np.testing.assert_allclose(v.shed_kwh, [20.0, 5.0])  # 4 x 15 min x 20 kW; 2 x 15 min x 10
    np.testing.assert_allclose(v.avoided_kg, [10.0, 5.0])
    np.testing.assert_allclose(v.coverage, [1.0, 0.75])
    cut = verify(base[:1], actual[:1], np.array([900.0, 900.0, 900.0, 300.0]), 500.0)
    np.testing.assert_allclose(cut.shed_kwh, [20.0 * 3000 / 3600])  # 3 x 15 min + 5 min
    empty = verify(base[:1], np.full((1, 4), np.nan), 900.0, 500.0)
    assert np.isnan(empty.shed_kw[0]) and empty.shed_kwh[0] == 0 and empty.coverage[0] == 0


def test_lowest_intensity_window() -> None:
    intensity = np.array([500.0, 400.0, 100.0, 120.0, 600.0])
    assert lowest_intensity_window(intensity, 2) == 2
    with pytest.raises(ValueError):
        lowest_intensity_window(intensity, 6)
