"""`GET /api/v1/reports/daily`: a site's daily import and Scope 2 over its local days, the
instruments used up in time order across the days and reset on 1 January."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from peakline_api.app import create_app
from peakline_api.keys import KeyStore
from peakline_api.services.site_daily import local_midnights, site_days
from peakline_api.settings import ApiSettings
from peakline_core.config import PlatformConfig
from peakline_core.storage import Row
from peakline_core.storage.schema import EMISSIONS, EMISSIONS_1D, ENERGY_1D, ENERGY_1H
from tests.unit.api.api_fakes import MemoryStore
from tests.unit.api.api_support import KEYS, Api, memory_services

NS = 1_000_000_000
HOUR = 3600 * NS
DAY = 86_400 * NS
SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(y: int, m: int, d: int, h: int = 0) -> int:
    return int(datetime(y, m, d, h, tzinfo=SHANGHAI).timestamp()) * NS


NOW = local(2026, 1, 3, 20)  # 2026-01-03T12:00Z, 8 pm in Shanghai


@pytest.fixture
async def api(tmp_path: Path, platform_config: PlatformConfig) -> AsyncIterator[Api]:
    store = MemoryStore()
    keys_db = tmp_path / "keys.db"
    with KeyStore(keys_db) as keys:
        tokens = {name: keys.create(name, role, c)[1] for name, (role, c) in KEYS.items()}
    settings = ApiSettings(config_dir=platform_config.root, store_url="memory:", keys_db=keys_db)
    app = create_app(settings, store=store, config=platform_config, clock_ns=lambda: NOW)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield Api(client, store, tokens)


def derived(site: str, hours: list[int], kwh: list[float], kg_per_kwh: float) -> list[Row]:
    """What the deriver stores for hourly imports: `energy_1h` and hourly `emissions`
    (location), and their UTC-day roll-ups `energy_1d` and `emissions_1d`."""
    flow = {"site": site, "flow": "import"}
    tags = {"site": site, "scope": "2", "method": "location"}
    rows, days = [], {}
    for t, v in zip(hours, kwh, strict=True):
        fields = {"kwh": v, "estimated_kwh": v / 10, "suspect_kwh": 0.0}
        rows += [
            Row(ENERGY_1H, flow, fields, t),
            Row(EMISSIONS, tags, {"kgco2e": v * kg_per_kwh, "kg_per_kwh": kg_per_kwh}, t),
        ]
        days[t - t % DAY] = days.get(t - t % DAY, 0.0) + v
    for t, v in days.items():
        fields = {"kwh": v, "estimated_kwh": v / 10, "suspect_kwh": 0.0}
        rows += [
            Row(ENERGY_1D, flow, fields, t),
            Row(EMISSIONS_1D, tags, {"kgco2e": v * kg_per_kwh}, t),
        ]
    return rows  # fmt: skip


async def test_days_are_the_sites_local_days_and_instruments_reset_on_new_year(
    api: Api, platform_config: PlatformConfig
) -> None:
    office = platform_config.sites["rt-office"]
    assert office.timezone == "Asia/Shanghai" and office.market is not None
    [ppa] = office.market.instruments  # 400 MWh at 0 kg/kWh, vintage 2026
    assert (ppa.year, ppa.mwh, ppa.factor_kg_per_kwh) == (2026, 400, 0.0)
    book = platform_config.factor_book()
    residual = {y: book.residual_mix(office.grid_region, y) for y in (2025, 2026)}
    # 30 Dec .. 3 Jan, Shanghai days: 250 MWh a day in 2026 uses the PPA up during 2 January;
    # each local day's hours carry its figure, so a UTC day would mix two of them
    starts = [local(2025, 12, 30), local(2025, 12, 31), local(2026, 1, 1), local(2026, 1, 2),
              local(2026, 1, 3)]  # fmt: skip
    kwh = [1000.0, 1000.0, 250_000.0, 250_000.0, 100_000.0]
    hours = [t + h * HOUR for t in starts for h in range(24) if t + h * HOUR < NOW]
    per_hour = [kwh[starts.index(t - (t - starts[0]) % DAY)] / 24 for t in hours]
    await api.store.write(derived("rt-office", hours, per_hour, 0.5))

    got = await api.get(
        "viewer_rt", "/api/v1/reports/daily", params={"site": "rt-office", "days": 7}
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["start"] == "2025-12-27T16:00:00.000Z" and body["end"] == "2026-01-03T16:00:00.000Z"
    assert body["t_ms"][2:] == [t // 1_000_000 for t in starts]
    today = kwh[-1] * 20 / 24  # until 8 pm
    assert body["import_kwh"][:2] == [None, None]
    assert body["import_kwh"][2:] == pytest.approx([*kwh[:-1], today])
    assert body["estimated_kwh"][2:] == pytest.approx([v / 10 for v in [*kwh[:-1], today]])
    assert body["location_kgco2e"][2:] == pytest.approx([0.5 * v for v in [*kwh[:-1], today]])
    expected = [
        1000.0 * residual[2025],
        1000.0 * residual[2025],
        0.0,  # 250 of 400 MWh covered
        100_000.0 * residual[2026],  # 150 MWh covered, 100 MWh at the residual mix
        today * residual[2026],
    ]
    assert body["market_kgco2e"][:2] == [None, None]
    assert body["market_kgco2e"][2:] == pytest.approx(expected)

    # today's bar is the overview's "Energy today" (since local midnight)
    overview = (await api.get("viewer_rt", "/api/v1/overview")).json()
    [row] = [s for s in overview if s["id"] == "rt-office"]
    assert row["energy_today_kwh"] == pytest.approx(body["import_kwh"][-1])
    assert row["emissions_today_kgco2e"] == pytest.approx(body["location_kgco2e"][-1])


async def test_hourly_rows_and_ranges_give_the_same_days(
    tmp_path: Path, platform_config: PlatformConfig
) -> None:
    """The past days are sums of hourly rows; read as ranges (a zone on half hours) they are
    the same figures."""
    store = MemoryStore()
    async with memory_services(tmp_path, platform_config, store, KEYS["viewer_rt"], NOW) as (
        caller,
        state,
    ):
        hours = list(range(NOW - 10 * DAY - 5 * HOUR, NOW, HOUR))
        await store.write(derived("rt-office", hours, [10.0 + (t // HOUR) % 7 for t in hours], 0.6))
        office = caller.site("rt-office")
        by_hour = await site_days(caller, state, office, 12)
        by_range = await site_days(caller, state, office, 12, by_hour=False)
    a, b = by_hour.model_dump(), by_range.model_dump()
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], list) and k != "t_ms":
            assert [v is None for v in a[k]] == [v is None for v in b[k]], k
            assert [v for v in a[k] if v is not None] == pytest.approx(
                [v for v in b[k] if v is not None]
            ), k
        else:
            assert a[k] == b[k], k
    assert by_hour.import_kwh[0] is None and all(v for v in by_hour.import_kwh[2:])


def test_local_midnights_keep_a_dst_day_whole() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    now = int(datetime(2026, 3, 30, 12, tzinfo=berlin).timestamp()) * NS
    edges = local_midnights(berlin, now, 3)
    assert [(b - a) // HOUR for a, b in itertools.pairwise(edges)] == [24, 23, 24]  # 29 March


async def test_a_site_of_another_city_is_404_and_days_are_bounded(api: Api) -> None:
    got = await api.get("viewer_rt", "/api/v1/reports/daily", params={"site": "lk-townhall"})
    assert got.status_code == 404
    for bad in ("0", "367", "x"):
        got = await api.get(
            "viewer_rt", "/api/v1/reports/daily", params={"site": "rt-office", "days": bad}
        )
        assert got.status_code == 422, (bad, got.text)
