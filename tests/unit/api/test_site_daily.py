"""`GET /api/v1/reports/daily`: a site's daily import and Scope 2, the instruments used up in
time order across the days and reset on 1 January."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from peakline_api.app import create_app
from peakline_api.keys import KeyStore
from peakline_api.settings import ApiSettings
from peakline_core.config import PlatformConfig
from peakline_core.storage import Row
from peakline_core.storage.schema import EMISSIONS_1D, ENERGY_1D
from tests.unit.api.api_fakes import MemoryStore
from tests.unit.api.api_support import KEYS, Api

NS = 1_000_000_000
DAY = 86_400 * NS
JAN1 = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp()) * NS
NOW = JAN1 + 2 * DAY + 12 * 3600 * NS  # 2026-01-03T12:00Z


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


def _import(site: str, t: int, kwh: float, estimated: float = 0.0) -> Row:
    fields = {"kwh": kwh, "estimated_kwh": estimated, "suspect_kwh": 0.0}
    return Row(ENERGY_1D, {"site": site, "flow": "import"}, fields, t)


async def test_instruments_are_used_up_day_by_day_and_reset_on_new_year(
    api: Api, platform_config: PlatformConfig
) -> None:
    office = platform_config.sites["rt-office"]
    assert office.market is not None
    [ppa] = office.market.instruments  # 400 MWh at 0 kg/kWh, vintage 2026
    assert (ppa.year, ppa.mwh, ppa.factor_kg_per_kwh) == (2026, 400, 0.0)
    book = platform_config.factor_book()
    residual = {y: book.residual_mix(office.grid_region, y) for y in (2025, 2026)}
    # 30 Dec .. 3 Jan: 250 MWh a day in 2026 uses the PPA up during 2 January
    days = [JAN1 - 2 * DAY, JAN1 - DAY, JAN1, JAN1 + DAY, JAN1 + 2 * DAY]
    kwh = [1000.0, 1000.0, 250_000.0, 250_000.0, 100_000.0]
    await api.store.write(
        [_import("rt-office", t, v, estimated=v / 10) for t, v in zip(days, kwh, strict=True)]
    )
    tags = {"site": "rt-office", "scope": "2", "method": "location"}
    await api.store.write([Row(EMISSIONS_1D, tags, {"kgco2e": 0.5 * kwh[2]}, JAN1)])

    got = await api.get(
        "viewer_rt", "/api/v1/reports/daily", params={"site": "rt-office", "days": 7}
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["start"] == "2025-12-28T00:00:00.000Z" and body["end"] == "2026-01-04T00:00:00.000Z"
    assert body["t_ms"][2:] == [t // 1_000_000 for t in days]
    assert body["import_kwh"] == [None, None, *kwh]
    assert body["estimated_kwh"][2:] == [v / 10 for v in kwh]
    assert body["location_kgco2e"] == [None, None, None, None, 0.5 * kwh[2], None, None]
    expected = [
        1000.0 * residual[2025],
        1000.0 * residual[2025],
        0.0,  # 250 of 400 MWh covered
        100_000.0 * residual[2026],  # 150 MWh covered, 100 MWh at the residual mix
        100_000.0 * residual[2026],
    ]
    assert body["market_kgco2e"][:2] == [None, None]
    assert body["market_kgco2e"][2:] == pytest.approx(expected)


async def test_a_site_of_another_city_is_404_and_days_are_bounded(api: Api) -> None:
    got = await api.get("viewer_rt", "/api/v1/reports/daily", params={"site": "lk-townhall"})
    assert got.status_code == 404
    for bad in ("0", "367", "x"):
        got = await api.get(
            "viewer_rt", "/api/v1/reports/daily", params={"site": "rt-office", "days": bad}
        )
        assert got.status_code == 422, (bad, got.text)
