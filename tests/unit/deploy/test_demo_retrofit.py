"""The demo's retrofit site (peakline_cli.demo.baseline): when the works are, what the year
before the history holds (the meter's own physics on coarse steps, equal to the live physics
it stands in for), the interval file it is imported as, and the M&V's measured-day rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from firmware_sim import Scenario, load_profiles
from firmware_sim.world import World
from peakline_api.services.retrofits import measured_days
from peakline_cli.demo.baseline import (
    HOUR_NS,
    NS,
    interval_file,
    plan_retrofit,
    retrofit_day,
    simulate_hours,
    with_retrofit,
)
from peakline_core.config import load_config
from peakline_core.importing import IntervalSpec, parse_interval
from peakline_store.importing import read_table

REPO = Path(__file__).resolve().parents[3]
NOW = datetime(2026, 12, 4, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("history_start", "expected"),
    [
        (NOW - timedelta(days=7), date(2026, 12, 2)),  # two UTC days before today
        (datetime(2026, 12, 2, 7, tzinfo=UTC), date(2026, 12, 3)),  # not before the history
        (datetime(2026, 12, 2, 0, tzinfo=UTC), date(2026, 12, 2)),  # a history from midnight
    ],
)
def test_retrofit_day(history_start: datetime, expected: date) -> None:
    assert retrofit_day(history_start, NOW) == expected


def test_plan_on_the_example_district() -> None:
    config = load_config(REPO / "config")
    start = datetime(2026, 11, 27, 7, tzinfo=UTC)
    plan = plan_retrofit(config, start, NOW)
    assert plan is not None
    assert (plan.site, plan.meter, plan.day) == ("rt-library", "library-meter", date(2026, 12, 2))
    assert plan.import_to_ns == int(start.timestamp()) * NS
    day_ns = int(datetime(2026, 12, 2, tzinfo=UTC).timestamp()) * NS
    assert plan.import_from_ns == day_ns - 365 * 24 * HOUR_NS
    # the outdoor sensor the M&V reads for the library: an HVAC controller in its city
    assert plan.weather_device is not None and plan.weather_site is not None
    assert config.sites[plan.weather_site].city == config.sites["rt-library"].city


def test_interval_file_reads_back_through_the_import_parser() -> None:
    hours = np.array([0, HOUR_NS], dtype=np.int64) + 1_764_633_600 * NS
    data = interval_file(hours, np.array([12.3456, 7.0]))
    assert data == (
        b"Interval start,Usage (kWh)\n2025-12-02T00:00:00Z,12.346\n2025-12-02T01:00:00Z,7.000\n"
    )
    header, rows = read_table("x.csv", data)
    result = parse_interval(header, rows, IntervalSpec(unit="kWh", interval_s=3600))
    assert not result.errors
    assert result.total == pytest.approx(19.346)


def _scenario() -> Scenario:
    return Scenario.from_yaml(REPO / "config/scenarios/district-small.yaml")


def test_coarse_year_matches_the_live_physics_and_keeps_the_retrofit() -> None:
    """Two days of the library meter on 5-minute steps against the scenario's own 10 s steps
    (the live run): the same daily energy within 1 %; after the works, less of it."""
    profiles = load_profiles(REPO / "config/profiles")
    config = load_config(REPO / "config")
    start = datetime(2026, 11, 30, tzinfo=UTC)
    plan = plan_retrofit(config, start - timedelta(days=3), datetime(2026, 12, 3, 9, tzinfo=UTC))
    assert plan is not None and plan.day == date(2026, 12, 1)
    scenario = with_retrofit(_scenario(), plan)
    t0 = int(start.timestamp()) * NS
    hours, kwh, temp = simulate_hours(scenario, profiles, "library-meter", t0, t0 + 48 * HOUR_NS)
    assert hours.shape == kwh.shape == temp.shape == (48,)
    assert np.all(np.diff(hours) == HOUR_NS)
    fine = Scenario.model_validate(scenario.model_dump(by_alias=True) | {"start": start})
    world = World(fine, profiles)
    kind, row = world.where["library-meter"]
    watts: list[np.ndarray] = []
    world.advance(
        world.step_of(t0 + 48 * HOUR_NS) - 1,
        lambda _k, chunks: watts.append(chunks[kind].true_power_w[row]),  # type: ignore[index]
    )
    live = np.concatenate(watts).reshape(2, -1).mean(axis=1) * 24 / 1000  # kWh per day
    coarse = kwh.reshape(2, 24).sum(axis=1)
    np.testing.assert_allclose(coarse, live, rtol=0.01)
    # the same hours without the works draw more (heat loss halves from 2026-12-01)
    plain = simulate_hours(_scenario(), profiles, "library-meter", t0, t0 + 48 * HOUR_NS)[1]
    assert plain[:24].sum() == pytest.approx(kwh[:24].sum(), rel=1e-9)  # before: the same
    assert plain[24:].sum() > kwh[24:].sum() * 1.03  # after: the retrofit saves


def test_simulate_hours_refuses_a_span_off_the_hour() -> None:
    profiles = load_profiles(REPO / "config/profiles")
    with pytest.raises(ValueError, match="whole hours"):
        simulate_hours(_scenario(), profiles, "library-meter", HOUR_NS + 1, 3 * HOUR_NS)


def test_days_mostly_bridged_over_a_gap_are_not_measured_days() -> None:
    energy = np.array([600.0, 610.0, 580.0, np.nan, 0.0])
    estimated = np.array([0.0, 61.0, 60.0, 0.0, 0.0])
    out = measured_days(energy, estimated)
    np.testing.assert_array_equal(np.isnan(out), [False, False, True, True, False])
    assert out[1] == 610.0
