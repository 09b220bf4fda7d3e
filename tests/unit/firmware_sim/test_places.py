"""firmware-sim places: a device in another place of the scenario (a partner city abroad, a
northern city in another climate) has that place's weather, sun and clock, while the
scenario's own devices are exactly what they were without places."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from firmware_sim import Scenario, ScenarioError, load_profiles, render
from firmware_sim.physics.environment import Environment
from firmware_sim.physics.grid import intensity

REPO = Path(__file__).resolve().parents[3]
T0 = 1736121600 * 10**9  # 2025-01-06T00:00Z, a Monday
H = 3600 * 10**9
NEW_YORK = {"id": "new-york", "latitude": 40.7, "longitude": -74.0, "utc_offset_h": -5,
            "mean_temp_c": 0.5, "daily_swing_c": 6}  # fmt: skip
HARBIN = {"id": "harbin", "latitude": 45.8, "longitude": 126.6, "utc_offset_h": 8,
          "mean_temp_c": -17.0, "daily_swing_c": 10, "cloudiness": 0.2}  # fmt: skip


@pytest.fixture(scope="module")
def profiles() -> dict:
    return load_profiles(REPO / "config" / "profiles")


def devices(place: str | None) -> list[dict]:
    where = {} if place is None else {"place": place}
    return [
        {"id": "m", "profile": "sdm630", "physics": {"base_kw": 10, "peak_kw": 60, **where}},
        {"id": "pv", "profile": "sunspec-inverter", "physics": {"capacity_kw": 50, **where}},
        {"id": "heat", "profile": "heat-meter",
         "physics": {"base_rate_per_h": 0.1, "heating_rate_per_k": 0.1, "balance_c": 16, **where}},
    ]  # fmt: skip


def scenario(place: str | None, places: list[dict] | None = None, signals: list | None = None):
    return Scenario.model_validate(
        {"seed": 5, "start": "2025-01-06T00:00:00Z", "places": places or [],
         "devices": devices(place), "grid_signals": signals or []}
    )  # fmt: skip


def test_the_scenarios_own_devices_are_unchanged_by_other_places(profiles) -> None:
    alone = render(scenario(None), profiles, T0, T0 + 24 * H, 300)
    beside = render(scenario(None, [NEW_YORK, HARBIN]), profiles, T0, T0 + 24 * H, 300)
    for device, point in (("m", "power_total"), ("pv", "ac_power"), ("heat", "total")):
        assert np.array_equal(alone.series(device, point)[1], beside.series(device, point)[1])


def test_a_device_in_new_york_keeps_new_yorks_day_and_sun(profiles) -> None:
    sc = scenario("new-york", [NEW_YORK])
    r = render(sc, profiles, T0, T0 + 48 * H, 300)
    t, pv = r.series("pv", "ac_power")
    _, power = r.series("m", "power_total")
    local = (t / 1e9 / 3600.0 - 5.0) % 24.0
    assert pv[(local < 6) | (local > 18)].max() == 0  # dark at New York's night
    assert pv[(local > 11) & (local < 13)].mean() > 5_000  # producing at New York's noon
    shanghai_noon = ((t / 1e9 / 3600.0 + 8.0) % 24.0 > 11) & ((t / 1e9 / 3600.0 + 8.0) % 24 < 13)
    assert pv[shanghai_noon].max() == 0  # Shanghai's noon is New York's night
    # Office hours on New York's clock (a Monday and a Tuesday): busier at 10-16 than 0-5
    assert power[(local > 10) & (local < 16)].mean() > 2 * power[local < 5].mean()


def test_a_northern_place_is_colder_and_its_heat_meter_counts_faster(profiles) -> None:
    sc = scenario(None, [HARBIN])
    env = Environment(sc).at(T0 / 1e9 + np.arange(0.0, 86400.0 * 3, 600.0))
    assert env.t_out.shape[0] == 2  # the scenario's own place and Harbin
    assert env.t_out[1].mean() < env.t_out[0].mean() - 15
    south = render(scenario(None), profiles, T0, T0 + 24 * H, 3600)
    north = render(scenario("harbin", [HARBIN]), profiles, T0, T0 + 24 * H, 3600)
    used = [r.series("heat", "total")[1] for r in (south, north)]
    assert used[1][-1] - used[1][0] > 1.5 * (used[0][-1] - used[0][0])


def test_a_grid_signal_follows_its_places_clock() -> None:
    signal = {"region": "US-NEWE", "mean_g_per_kwh": 243, "place": "new-york"}
    sc = scenario(None, [NEW_YORK], [signal])
    t = T0 / 1e9 + np.arange(0.0, 7 * 86400.0, 300.0)
    g = intensity(sc.grid_signals[0], sc, Environment(sc), t, seed=11)
    local = (t / 3600.0 - 5.0) % 24.0
    assert g[(local > 18) & (local < 20)].mean() > g[(local > 11) & (local < 13)].mean()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"devices": [{"id": "m", "profile": "sdm630", "physics": {"place": "mars"}}]},
         "unknown place 'mars'"),
        ({"places": [NEW_YORK, NEW_YORK]}, "an id twice"),
        ({"grid_signals": [{"region": "X", "mean_g_per_kwh": 1, "place": "mars"}]},
         "unknown place 'mars'"),
    ],
)  # fmt: skip
def test_places_are_checked(tmp_path: Path, change: dict, message: str) -> None:
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"seed": 1, **change}))
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_yaml(path)
