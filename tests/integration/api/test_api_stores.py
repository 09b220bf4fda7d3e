"""Every endpoint against the real stores (SQLite, influxd): roles, scope, hostile input."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.integration.api.api_live_support import NOW_NS, LiveApi
from tests.unit.api.api_support import cities_of, example_config, sites_of

REPO = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.asyncio

HOSTILE = [
    "rt-school' OR 1=1 --",
    'rt-school" OR ""="',
    "rt-school; DROP MEASUREMENT reading",
    "x\\' OR '1'='1",
    "школа",
    "a" * 5000,
]


async def test_catalog(live_api: LiveApi) -> None:
    assert (await live_api.get("viewer_rt", "/api/v1/cities")).json()["total"] == 1
    districts = (await live_api.get("viewer_all", "/api/v1/districts")).json()["total"]
    assert districts == len(example_config(REPO / "config").programme.districts)
    riverton = sites_of("riverton")
    assert (await live_api.get("viewer_rt", "/api/v1/sites")).json()["total"] == len(riverton)
    assert (await live_api.get("viewer_rt", "/api/v1/sites/rt-school")).status_code == 200
    school = (await live_api.get("viewer_rt", "/api/v1/devices?site=rt-school")).json()
    assert school["total"] == 5  # meter, PV, HVAC, air sensor, coal weigher
    assert (await live_api.get("viewer_rt", "/api/v1/devices/school-hvac")).status_code == 200
    assert (await live_api.get("viewer_rt", "/api/v1/sites/lk-townhall")).status_code == 404


async def test_latest_series_csv(live_api: LiveApi) -> None:
    r = await live_api.get(
        "viewer_rt", "/api/v1/readings/latest?device=school-meter&point=power_total"
    )
    [item] = r.json()["items"]
    assert item["t_ms"] == (NOW_NS - 60 * 10**9) // 10**6 and item["quality"] == "good"
    r = await live_api.get(
        "viewer_rt", "/api/v1/series?device=school-meter&point=power_total&start=-1h&window=15m"
    )
    [s] = r.json()["series"]
    assert len(s["values"]) == 4 and all(v > 0 for v in s["values"])
    raw = await live_api.get("viewer_rt", "/api/v1/series?device=school-meter&point=power_total")
    assert len(raw.json()["series"][0]["values"]) == 60
    assert sum(raw.json()["series"][0]["values"][:15]) / 15 == pytest.approx(s["values"][0])
    for agg, fn in (("max", max), ("min", min), ("sum", sum)):
        r = await live_api.get(
            "viewer_rt",
            f"/api/v1/series?device=school-meter&point=power_total&start=-1h&window=1h&agg={agg}",
        )
        assert r.json()["series"][0]["values"][0] == pytest.approx(
            fn(raw.json()["series"][0]["values"])
        )
    r = await live_api.get("viewer_rt", "/api/v1/series.csv?device=office-meter&point=power_total")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert len(rows) == 61


async def test_anomalies_reports_overview(live_api: LiveApi) -> None:
    r = await live_api.get("viewer_rt", "/api/v1/anomalies?start=-1d")
    # the seed's one anomaly per site, for each of riverton's sites
    assert len(r.json()["items"]) == len(sites_of("riverton"))
    assert r.json()["items"][0]["state"] == "open"
    r = await live_api.get("viewer_rt", "/api/v1/anomalies/scores?site=rt-school&start=-2h")
    assert r.json()["series"][0]["values"] == [pytest.approx(0.93)]
    r = await live_api.get(
        "viewer_rt", "/api/v1/reports/emissions?level=site&site=rt-school&start=-1d"
    )
    [row] = r.json()["items"]
    assert row["energy_kwh"]["import"] > 0 and row["emissions_kgco2e"]["market"]["2"] > 0
    city = await live_api.get("viewer_all", "/api/v1/reports/emissions?level=city&start=-1d")
    assert {c["id"] for c in city.json()["items"]} == cities_of()
    overview = {s["id"]: s for s in (await live_api.get("viewer_all", "/api/v1/overview")).json()}
    assert overview["rt-school"]["power_kw"] > 0 and overview["rt-school"]["open_anomalies"] == 1
    ci = await live_api.get("viewer_rt", "/api/v1/carbon-intensity")
    assert ci.json()[0]["g_per_kwh"] == 580.0
    series = await live_api.get("viewer_rt", "/api/v1/carbon-intensity/series?start=-1d&window=1h")
    assert len(series.json()["series"][0]["values"]) == 24


async def test_energy_windows_add_up_to_the_report(live_api: LiveApi) -> None:
    """/energy serves the deriver's rows as stored; hourly windows over whole hours sum to
    what the report says for the same range, and 1-minute windows carry their quality."""
    span = "start=2025-03-01T00:00:00Z&end=2025-03-01T12:00:00Z"  # whole hours before NOW
    r = await live_api.get(
        "viewer_rt", f"/api/v1/energy?site=rt-school&resolution=1h&flow=import&{span}"
    )
    assert r.status_code == 200, r.text
    [hourly] = r.json()["series"]
    assert hourly["flow"] == "import" and hourly["device"] is None and len(hourly["kwh"]) == 12
    report = await live_api.get("viewer_rt", f"/api/v1/reports/emissions?site=rt-school&{span}")
    [row] = report.json()["items"]
    assert sum(hourly["kwh"]) == pytest.approx(row["energy_kwh"]["import"], rel=1e-9)
    assert sum(hourly["kwh"]) > 0
    minutes = await live_api.get(
        "viewer_rt",
        "/api/v1/energy?site=rt-school&resolution=1m&start=2025-03-01T11:00:00Z"
        "&end=2025-03-01T12:00:00Z",
    )
    series = minutes.json()["series"]
    assert series and all(s["device"] and len(s["quality"]) == len(s["kwh"]) for s in series)
    assert {q for s in series for q in s["quality"]} <= {"measured", "estimated", "suspect",
                                                         "imported"}  # fmt: skip
    other = await live_api.get("viewer_rt", "/api/v1/energy?site=lk-townhall")
    assert other.status_code == 404  # another city's site: no existence oracle
    assert (await live_api.get("viewer_rt", "/api/v1/energy?resolution=5m")).status_code == 422
    wide = await live_api.get("viewer_all", "/api/v1/energy?resolution=1m&start=-365d")
    assert wide.status_code == 422 and "coarser" in wide.json()["detail"]


async def test_ops(live_api: LiveApi) -> None:
    assert (await live_api.client.get("/health")).status_code == 200
    ready = await live_api.client.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["store"] == "ok"
    assert "peakline_api_requests_total" in (await live_api.client.get("/metrics")).text


@pytest.mark.parametrize("value", HOSTILE)
async def test_hostile_ids_never_reach_the_store(
    live_api: LiveApi, value: str, platform_config
) -> None:
    points = len(platform_config.profiles["sdm630"].points)
    for name in ("site", "device", "point", "district", "city"):
        r = await live_api.get("admin_all", f"/api/v1/series?{name}={quote(value)}")
        assert r.status_code in (404, 422)
    r = await live_api.get("admin_all", "/api/v1/sites/" + quote(value, safe=""))
    assert r.status_code in (404, 422)
    # The data is still there and intact afterwards.
    r = await live_api.get("admin_all", "/api/v1/readings/latest?device=school-meter")
    assert r.json()["total"] == points


async def test_cross_city_and_roles(live_api: LiveApi) -> None:
    for url in (
        "/api/v1/readings/latest?site=lk-townhall",
        "/api/v1/devices/townhall-meter",
        "/api/v1/anomalies?site=lk-townhall",
        "/api/v1/series?city=lakeside",
    ):
        assert (await live_api.get("operator_rt", url)).status_code == 404
    lk = await live_api.get("operator_lk", "/api/v1/readings/latest?limit=1000")
    assert {i["site"] for i in lk.json()["items"]} == {"lk-townhall"}
    assert (await live_api.client.get("/api/v1/sites")).status_code == 401
