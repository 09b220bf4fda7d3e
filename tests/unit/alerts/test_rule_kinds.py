"""The conditions and message lines of the rule kinds added second (issue 22): daily emissions,
a city's month against its trajectory, a gateway's spool backlog."""

from __future__ import annotations

import pytest

from peakline_core.alerts.conditions import city_month, daily_emissions, spool_backlog
from peakline_core.alerts.messages import detail
from peakline_core.config.alerts import CityMonth, DailyEmissions, SpoolBacklog


@pytest.mark.parametrize(
    ("kg", "expected"),
    [(None, "hold"), (601.0, "firing"), (600.0, "hold"), (550.0, "hold"), (500.0, "clear")],
)
def test_daily_emissions_fires_past_the_margin_and_clears_at_baseline(
    kg: float | None, expected: str
) -> None:
    cond = DailyEmissions(kind="daily_emissions", baseline_kgco2e=500, over_percent=20)
    assert daily_emissions(cond, kg) == expected


@pytest.mark.parametrize(
    ("actual", "expected"), [(106.0, "firing"), (105.0, "hold"), (100.0, "clear")]
)
def test_city_month_fires_past_the_tolerance_and_clears_on_track(
    actual: float, expected: str
) -> None:
    assert city_month(CityMonth(kind="city_month", tolerance_percent=5), actual, 100.0) == (
        expected
    )


@pytest.mark.parametrize(
    ("readings", "age_s", "expected"),
    [
        (1001, 0.0, "firing"),  # too many waiting
        (10, 1801.0, "firing"),  # waiting too long
        (1000, 1800.0, "hold"),  # at the limits: not past them, not drained
        (500, 900.0, "clear"),  # half of each limit: drained
        (400, 1000.0, "hold"),  # few readings but the oldest still old
    ],
)
def test_spool_backlog_has_hysteresis(readings: int, age_s: float, expected: str) -> None:
    cond = SpoolBacklog(kind="spool_backlog", readings=1000, oldest_minutes=30)
    assert spool_backlog(cond, readings, age_s) == expected


def test_spool_backlog_with_one_limit_ignores_the_other() -> None:
    cond = SpoolBacklog(kind="spool_backlog", readings=1000)
    assert spool_backlog(cond, 10, 86_400.0) == "clear"
    with pytest.raises(ValueError, match="give readings, oldest_minutes or both"):
        SpoolBacklog(kind="spool_backlog")


def test_the_new_kinds_say_what_tripped_them_in_both_languages() -> None:
    emissions = {"kind": "daily_emissions", "day": "2026-01-04", "kgco2e": 650.0,
                 "baseline_kgco2e": 500.0, "over_percent": 30.0}  # fmt: skip
    assert detail(emissions, "zh-CN") == "2026-01-04 碳排放 650 kgCO2e，超出基线 500 kgCO2e 的 30%"
    assert detail(emissions, "en") == "2026-01-04: 650 kgCO2e, 30 % over the 500 kgCO2e baseline"
    month = {"kind": "city_month", "month": "2025-12", "basis": "year_on_year", "sites": 3.0,
             "actual_kgco2e": 1.5e5, "allowed_kgco2e": 1.2e5}  # fmt: skip
    assert detail(month, "zh-CN") == (
        "2025-12 3 个站点排放 150,000 kgCO2e，超出达峰路径允许的 120,000 kgCO2e"
        "（与去年同期相同站点按达峰路径比例）"
    )
    assert detail(month, "en") == (
        "2025-12: 3 sites emitted 150,000 kgCO2e against 120,000 kgCO2e allowed by the path "
        "(the same sites' same dates last year times the path's ratio)"
    )
    pro_rata = {**month, "basis": "site_targets"}
    assert detail(pro_rata, "zh-CN").endswith("（各站点自身目标按天折算）")
    assert detail(pro_rata, "en").endswith("(the sites' own targets pro rata)")
    spool = {"kind": "spool_backlog", "agent": "gw1", "readings": 1500, "oldest_minutes": 2.0}
    assert detail(spool, "zh-CN") == "网关 gw1 积压 1500 条未上传数据，最早一条已等待 2 分钟"
    assert detail(spool, "en") == "gateway gw1 holds 1500 unsent readings, the oldest waiting 2 min"
