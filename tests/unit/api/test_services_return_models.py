"""The converted services (issue 25) return their models at run time, not dicts: each is
called directly on an app with the example configuration and stored rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from peakline_api.access import Access
from peakline_api.keys import Role
from peakline_api.params import TimeRange
from peakline_api.services.anomaly_feedback import FeedbackSummary, feedback_summary
from peakline_api.services.inventory import InventoryReport, inventory_report
from peakline_api.services.programme import (
    AirQualityReport,
    ProgrammeReport,
    air_quality,
    programme_report,
)
from peakline_api.services.retrofits import RetrofitOut, add_retrofit, retrofits_of
from peakline_api.services.site_daily import SiteDays, site_days
from peakline_api.state import AppState
from peakline_core.config import PlatformConfig
from peakline_core.storage import Row
from peakline_core.storage.schema import ENERGY_1H
from tests.unit.api.api_fakes import MemoryStore
from tests.unit.api.api_support import memory_services

NS = 1_000_000_000
DAY = 86_400 * NS
HOUR = 3600 * NS
NOW = int(datetime(2026, 3, 3, 12, tzinfo=UTC).timestamp()) * NS


@pytest.fixture
async def served(
    tmp_path: Path, platform_config: PlatformConfig
) -> AsyncIterator[tuple[Access, AppState]]:
    store = MemoryStore()
    async with memory_services(tmp_path, platform_config, store, (Role.ADMIN, ["*"]), NOW) as (
        caller,
        state,
    ):
        # 50 kWh in each hour of the office's local day so far (Shanghai: from 16:00Z)
        fields = {"kwh": 50.0, "estimated_kwh": 0.0, "suspect_kwh": 0.0}
        local_midnight = NOW - 20 * HOUR
        await store.write(
            [Row(ENERGY_1H, {"site": "rt-office", "flow": "import"}, fields, t)
             for t in range(local_midnight, NOW, HOUR)]
        )  # fmt: skip
        yield caller, state


async def test_site_days_returns_site_days(served: tuple[Access, AppState]) -> None:
    caller, state = served
    got = await site_days(caller, state, caller.site("rt-office"), 3)
    assert isinstance(got, SiteDays)
    assert got.import_kwh[-1] == 1000.0


async def test_feedback_summary_returns_its_model(served: tuple[Access, AppState]) -> None:
    caller, state = served
    assert isinstance(await feedback_summary(caller, state, NOW - 30 * DAY, NOW), FeedbackSummary)


async def test_inventory_report_returns_its_model(served: tuple[Access, AppState]) -> None:
    caller, state = served
    got = await inventory_report(caller, state, "site", 2026)
    assert isinstance(got, InventoryReport)


async def test_programme_services_return_their_models(served: tuple[Access, AppState]) -> None:
    caller, state = served
    tr = TimeRange(NOW - 30 * DAY, NOW)
    assert isinstance(await programme_report(caller, state, tr, "city"), ProgrammeReport)
    assert isinstance(await air_quality(caller, state, tr), AirQualityReport)


async def test_retrofits_of_returns_retrofit_models(served: tuple[Access, AppState]) -> None:
    caller, state = served
    office = caller.site("rt-office")
    added = add_retrofit(state, office, date(2026, 2, 1), ["led"], None, None, "", "k")
    assert isinstance(added, RetrofitOut)
    got = retrofits_of(state, {s.id: s for s in caller.visible_sites()})
    assert [type(r) for r in got] == [RetrofitOut]
