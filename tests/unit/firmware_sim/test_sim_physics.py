"""Physics and offline rendering: counters integrate power, seeds reproduce, faults show."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from firmware_sim import Scenario, load_profiles, render
from firmware_sim.timeparse import duration_ns

REPO = Path(__file__).resolve().parents[3]
T0 = 1736121600 * 10**9
H = 3600 * 10**9


@pytest.fixture(scope="module")
def profiles() -> dict:
    return load_profiles(REPO / "config" / "profiles")


def scenario(faults: list | None = None, seed: int = 3) -> Scenario:
    return Scenario.model_validate(
        {
            "seed": seed,
            "start": "2025-01-06T00:00:00Z",
            "devices": [
                {"id": "m", "profile": "sdm630", "physics": {"includes": ["h"]}},
                {"id": "h", "profile": "hvac-controller"},
                {"id": "pv", "profile": "sunspec-inverter"},
                {"id": "f", "profile": "feeder-meter", "physics": {"feeds": ["m"]}},
                {"id": "air", "profile": "air-sensor", "listen": {"driver": "mqtt"}},
            ],
            "faults": faults or [],
        }
    )


@pytest.mark.parametrize(
    ("device", "power", "counter"),
    [
        ("m", "power_total", "import_energy"),
        ("h", "power", "energy"),
        ("pv", "ac_power", "ac_energy"),
    ],
)
def test_counters_equal_the_integral_of_power(profiles, device, power, counter) -> None:
    r = render(scenario(), profiles, T0, T0 + 48 * H, 10)  # one sample per physics step
    _, p = r.series(device, power)
    _, e = r.series(device, counter)
    integral_kwh = np.sum(np.maximum(p[:-1], 0)) * 10 / 3.6e6
    delta = e[-1] - e[0]
    assert delta > 10
    assert abs(delta - integral_kwh) <= 0.005 * delta


def test_same_seed_same_values_other_seed_other_values(profiles) -> None:
    a = render(scenario(seed=1), profiles, T0, T0 + 6 * H, 60)
    b = render(scenario(seed=1), profiles, T0, T0 + 6 * H, 60)
    c = render(scenario(seed=2), profiles, T0, T0 + 6 * H, 60)
    key = ("m", "power_total")
    assert np.array_equal(a.values[key], b.values[key])
    assert not np.allclose(a.values[key], c.values[key])


def test_load_shape_is_daily_and_weekly(profiles) -> None:
    r = render(scenario(), profiles, T0, T0 + 7 * 86400 * 10**9, 3600)
    _, p = r.series("m", "power_total")
    local_hour = (np.arange(p.size) + 8) % 24
    day = (np.arange(p.size) + 8) // 24  # 2025-01-06 is a Monday
    weekday_noon = p[(local_hour == 11) & (day < 5)].mean()
    night = p[local_hour == 3].mean()
    weekend_noon = p[(local_hour == 11) & (day >= 5)].mean()
    assert weekday_noon > 2 * night
    assert weekday_noon > 1.5 * weekend_noon
    _, pv = r.series("pv", "ac_power")
    assert pv[local_hour == 0].max() == 0 and pv[local_hour == 12].max() > 1000


def test_rendered_faults_match_their_kind(profiles) -> None:
    faults = [
        {"kind": "spike", "device": "m", "point": "voltage_l1", "start": "2h", "duration": "60s"},
        {"kind": "flatline", "device": "m", "point": "current_l1", "start": "3h", "duration": "1h"},
        {"kind": "drift", "device": "air", "point": "co2", "start": "1h", "rate_per_h": 50},
        {"kind": "dropout", "device": "pv", "start": "4h", "duration": "10m"},
        {"kind": "counter_reset", "device": "m", "point": "import_energy", "start": "5h"},
        {"kind": "hvac_waste", "device": "h", "start": "13h", "duration": "6h"},
    ]
    clean = render(scenario(), profiles, T0, T0 + 24 * H, 60)
    r = render(scenario(faults), profiles, T0, T0 + 24 * H, 60)
    ts = r.timestamps
    v, v0 = r.values[("m", "voltage_l1")], clean.values[("m", "voltage_l1")]
    spike = (ts >= T0 + 2 * H) & (ts < T0 + 2 * H + duration_ns("60s"))
    assert np.allclose(v[spike], 5 * v0[spike]) and np.array_equal(v[~spike], v0[~spike])
    flat = (ts >= T0 + 3 * H) & (ts < T0 + 4 * H)
    assert np.ptp(r.values[("m", "current_l1")][flat]) == 0
    drift = r.values[("air", "co2")] - clean.values[("air", "co2")]
    assert drift[-1] == pytest.approx(50 * 23, rel=0.01)
    drop = (ts >= T0 + 4 * H) & (ts < T0 + 4 * H + duration_ns("10m"))
    assert np.isnan(r.values[("pv", "ac_power")][drop]).all()
    assert not np.isnan(r.values[("pv", "ac_power")][~drop]).any()
    e = r.values[("m", "import_energy")]
    after = ts >= T0 + 5 * H
    assert e[after][0] < 1.0 and e[~after][-1] > 1000
    night = (ts >= T0 + 13 * H) & (ts < T0 + 19 * H)  # 21:00 - 03:00 local, building empty
    hv, hv0 = r.values[("h", "power")], clean.values[("h", "power")]
    assert hv[night].mean() > 5 * hv0[night].mean()
    # The meter behind the HVAC sees the waste too.
    assert (
        r.values[("m", "power_total")][night].mean()
        > clean.values[("m", "power_total")][night].mean()
    )
    assert [f.kind for f in r.ground_truth] == [f["kind"] for f in faults]


def test_lower_heating_setpoint_means_less_power(profiles) -> None:
    from firmware_sim.world import World

    def power_after(setpoint: float) -> float:
        w = World(scenario(), profiles)
        w.values_at("h", T0 + 2 * H)
        w.set_controls("h", {"setpoint": setpoint, "mode": 1.0}, T0 + 2 * H)
        return w.values_at("h", T0 + 2 * H + 300 * 10**9)["power"]

    assert power_after(19.0) < power_after(21.0) <= power_after(23.0)


def test_retrofit_lowers_heating_demand(profiles) -> None:
    data = scenario().model_dump(by_alias=True)
    data["devices"][0]["physics"]["retrofit"] = {
        "from": "2025-01-07T00:00:00Z",
        "heating_reduction": 0.5,
    }
    sc = Scenario.model_validate(data)
    base = render(scenario(), profiles, T0, T0 + 48 * H, 600).values[("m", "power_total")]
    retro = render(sc, profiles, T0, T0 + 48 * H, 600).values[("m", "power_total")]
    assert np.array_equal(base[:144], retro[:144])
    assert retro[144:].sum() < base[144:].sum()
