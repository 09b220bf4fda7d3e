"""`GET /api/v1/overview/cities`: the overview's "are we on track?" per city, like for like."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from peakline_api.services.city_status import DAY_NS, Daily, Period, judge, period_at
from peakline_core.config import PlatformConfig
from peakline_core.storage import Row, SeriesQuery
from peakline_core.storage.schema import EMISSIONS_1D, ENERGY_1H
from tests.unit.api.api_support import NOW_NS, Api

NS = 1_000_000_000
FEB_2025 = int(datetime(2025, 2, 1, tzinfo=UTC).timestamp()) * NS
FEB_2024 = int(datetime(2024, 2, 1, tzinfo=UTC).timestamp()) * NS


def _ns(*ymd: int) -> int:
    return int(datetime(*ymd, tzinfo=UTC).timestamp()) * NS


def test_the_period_is_the_complete_days_of_this_month_or_last_month_on_the_first() -> None:
    assert period_at(_ns(2026, 12, 3) + 5 * 3600 * NS) == Period(datetime(2026, 12, 1).date(), 2)
    assert period_at(_ns(2026, 12, 1) + 1) == Period(datetime(2026, 11, 1).date(), 30)
    assert period_at(_ns(2024, 3, 1)) == Period(datetime(2024, 2, 1).date(), 29)  # leap year
    p = period_at(NOW_NS)  # 2025-03-01T12:00Z
    assert (p.start_ns, p.days, p.last_year().start_ns) == (FEB_2025, 28, FEB_2024)
    # a range's whole days (the programme page) may start on a leap day
    leap = Period(datetime(2028, 2, 29).date(), 3)
    assert leap.last_year() == Period(datetime(2027, 2, 28).date(), 3)


def _days(site: str, start_ns: int, kg: list[float], from_first_hour: bool = True) -> list[Row]:
    """A site's daily location-based emissions from `start_ns`, and (when it was metered from
    the period's first hour) that hour's energy roll-up."""
    tags = {"site": site, "scope": "2", "method": "location"}
    rows = [Row(EMISSIONS_1D, tags, {"kgco2e": v}, start_ns + i * DAY_NS) for i, v in enumerate(kg)]
    if from_first_hour:
        rows.append(Row(ENERGY_1H, {"site": site, "flow": "import"}, {"kwh": 1.0}, start_ns))
    return rows


async def _riverton(api: Api) -> dict:
    got = await api.get("viewer_rt", "/api/v1/overview/cities")
    assert got.status_code == 200, got.text
    rows = {c["id"]: c for c in got.json()}
    assert set(rows) == {"riverton"}  # a riverton key sees no other city
    return rows["riverton"]


@pytest.mark.parametrize("factor", [0.99, 1.01])
async def test_year_on_year_compares_the_sites_with_both_years_against_the_city_path(
    api: Api, platform_config: PlatformConfig, factor: float
) -> None:
    city = platform_config.programme.cities[0]
    assert city.id == "riverton" and city.target is not None
    ratio = city.target.cap(2025) / city.target.cap(2024)
    last = [100.0 + i for i in range(28)]
    this = [v * ratio * factor for v in last]
    # rt-office has this year only: it counts in the total, not in the comparison
    await api.store.write(
        _days("rt-school", FEB_2024, last)
        + _days("rt-school", FEB_2025, this)
        + _days("rt-office", FEB_2025, [500.0] * 28)
    )
    row = await _riverton(api)
    assert row["basis"] == "year_on_year" and row["reason"] is None
    assert row["compared_sites"] == ["rt-school"]
    assert row["on_track"] is (factor < 1)
    assert row["required_change"] == pytest.approx(ratio - 1)
    assert row["change"] == pytest.approx(ratio * factor - 1)
    chart = row["chart"]
    assert chart["t_ms"][0] == FEB_2025 // 1_000_000 and len(chart["t_ms"]) == 28
    assert chart["actual_kgco2e"] == pytest.approx(np.cumsum(this))
    assert chart["last_year_kgco2e"] == pytest.approx(np.cumsum(last))
    assert chart["allowed_kgco2e"] == pytest.approx(np.cumsum(last) * ratio)

    # the total is every metered building's, the fixture's two days of the library included;
    # not the feeder's, whose meter measures what it supplies to the school and the office
    def total(sites: list[str]) -> float:
        return sum(sum(s.values) for s in stored if s.tags["site"] in sites)

    stored = await api.store.query(
        SeriesQuery(EMISSIONS_1D, "kgco2e", FEB_2025, FEB_2025 + 28 * DAY_NS)
    )  # fmt: skip
    assert total(["rt-feeder-7"]) > 0
    metered = [s.id for s in platform_config.sites.values() if s.city == "riverton" and s.in_totals]
    assert "rt-feeder-7" not in metered and {"rt-school", "rt-office"} <= set(metered)
    assert row["emissions_kgco2e"] == pytest.approx(total(metered))
    assert "rt-feeder-7" not in {t["site"] for t in row["top_sites"]}
    assert row["emissions_kgco2e"] > sum(this) + 500.0 * 28
    assert [t["site"] for t in row["top_sites"]][:2] == ["rt-office", "rt-school"]
    assert sum(t["share"] for t in row["top_sites"]) <= 1.0 + 1e-9


async def test_without_last_year_the_sites_own_targets_decide_pro_rata(
    api: Api, platform_config: PlatformConfig
) -> None:
    office = platform_config.sites["rt-office"]
    assert office.target is not None
    daily_cap = office.target.cap(2025) / 365
    await api.store.write(
        _days("rt-office", FEB_2025, [daily_cap * 1.2] * 28)
        + _days("rt-school", FEB_2025, [50.0] * 28)
    )
    row = await _riverton(api)
    assert row["basis"] == "site_targets" and row["compared_sites"] == ["rt-office"]
    assert row["on_track"] is False  # 20 % above its pro-rata cap
    assert row["chart"]["allowed_kgco2e"] == pytest.approx(daily_cap * np.arange(1, 29))
    assert row["chart"]["last_year_kgco2e"] is None and row["change"] is None


async def test_a_site_missing_a_day_is_not_judged_and_no_data_says_so(api: Api) -> None:
    # The fixture's roll-ups cover the last 48 h only: no site has every day of February. The
    # office has a row every day, but its metering began after the month's first hour: its
    # first day is partial, so it is not judged against a whole day's allowance either.
    await api.store.write(_days("rt-office", FEB_2025, [10.0] * 28, from_first_hour=False))
    row = await _riverton(api)
    assert row["on_track"] is None and row["reason"] == "no_baseline"
    # ... but its partial first day still counts in the city's figures and chart
    assert row["chart"]["actual_kgco2e"][0] >= 10.0
    assert row["emissions_kgco2e"] is not None and row["chart"]["allowed_kgco2e"] is None
    got = await api.get("admin_all", "/api/v1/overview/cities")
    lakeside = {c["id"]: c for c in got.json()}["lakeside"]
    assert lakeside["devices"] >= 1 and lakeside["devices_offline"] == lakeside["devices"]


def test_judge_reports_no_data_and_no_target(platform_config: PlatformConfig) -> None:
    p = Period(datetime(2025, 2, 1).date(), 3)
    city = platform_config.programme.cities[0]
    sites = [platform_config.sites["rt-school"]]
    yes = np.ones(1, bool)
    empty = Daily(np.full((1, 3), np.nan), yes)
    v = judge(city, sites, empty, empty, p)
    assert (v.reason, v.on_track, list(v.actual)) == ("no_data", None, [0.0, 0.0, 0.0])
    full = Daily(np.ones((1, 3)), yes)
    no_target = city.model_copy(update={"target": None})
    v = judge(no_target, sites, full, full, p)
    assert (v.reason, v.basis, v.on_track) == ("no_target", None, None)
