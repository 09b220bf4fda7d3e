"""Air-quality summaries: the pure per-district pooling, and the API over the example programme
(riverton's school air sensor; lakeside sees only its own district)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from peakline_api.keys import Role
from peakline_core.programme import summarise
from peakline_core.storage import Row
from tests.unit.api.api_fakes import MemoryStore
from tests.unit.api.api_support import example_config, memory_api

REPO = Path(__file__).resolve().parents[3]
NS = 10**9
HOUR_NS = 3600 * NS
NOW = 1_740_830_400 * NS


def test_summarise_pools_sensors_of_a_group() -> None:
    hourly = np.array([[500.0, 1200.0, np.nan], [800.0, 900.0, 1100.0], [np.nan] * 3])
    s = summarise(hourly, np.array([0, 0, 1]), 2, threshold=1000.0)
    assert s.hours.tolist() == [5, 0]
    assert s.mean[0] == pytest.approx(np.mean([500, 1200, 800, 900, 1100]))
    assert s.max[0] == 1200 and s.share_above[0] == pytest.approx(2 / 5)
    assert np.isnan(s.mean[1]) and np.isnan(s.share_above[1])


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, dict]]:
    config = example_config(REPO / "config")
    store = MemoryStore()
    tags = {"site": "rt-school", "device": "school-air"}
    rows = []
    for h in range(24):  # CO2 above 1000 ppm for 6 of 24 hours; PM2.5 steady at 8
        ts = NOW - (h + 1) * HOUR_NS
        co2 = 1300.0 if 9 <= h < 15 else 600.0
        rows.append(Row("reading", {**tags, "point": "co2"}, {"value": co2}, ts))
        rows.append(Row("reading", {**tags, "point": "pm25"}, {"value": 8.0}, ts))
    await store.write(rows)
    roles = {"rt": (Role.VIEWER, ["riverton"]), "lk": (Role.VIEWER, ["lakeside"])}
    async with memory_api(tmp_path, config, store, roles, NOW) as (c, auth):
        yield c, auth


async def test_air_quality_per_district(client) -> None:
    c, auth = client
    r = await c.get("/api/v1/programme/air-quality?start=-1d", headers=auth["rt"])
    assert r.status_code == 200, r.text
    items = {it["district"]: it for it in r.json()["items"]}
    assert set(items) == {"riverton-old-town"}
    it = items["riverton-old-town"]
    assert it["sensors"] == ["school-air"]
    co2 = it["points"]["co2"]
    assert co2["hours"] == 24 and co2["unit"] == "ppm"
    assert co2["share_above"] == pytest.approx(6 / 24)
    assert co2["max"] == 1300 and co2["mean"] == pytest.approx((6 * 1300 + 18 * 600) / 24)
    assert it["points"]["pm25"]["share_above"] == 0
    other = await c.get("/api/v1/programme/air-quality?start=-1d", headers=auth["lk"])
    assert [x["district"] for x in other.json()["items"]] == ["lakeside-harbour"]
    assert other.json()["items"][0]["points"] == {}


async def test_air_quality_bounds_its_buckets(client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #19: five years of hourly buckets per series (43,800) are refused, and so is a
    series count whose buckets would pass the cap."""
    from peakline_api.services import programme

    c, auth = client
    r = await c.get("/api/v1/programme/air-quality?start=-1825d", headers=auth["rt"])
    assert r.status_code == 422, r.text
    monkeypatch.setattr(programme, "MAX_AIR_CELLS", 23)  # one series of 24 hours is too many
    r = await c.get("/api/v1/programme/air-quality?start=-1d", headers=auth["rt"])
    assert r.status_code == 422 and "shorter range" in r.json()["detail"]
