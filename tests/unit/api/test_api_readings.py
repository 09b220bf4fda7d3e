"""Latest readings, series (aggregation, downsampling), CSV, anomalies, reports, operations."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest

from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_api.settings import ApiSettings
from peakline_core.config import PlatformConfig
from peakline_core.storage import SeriesQuery
from tests.unit.api.api_fakes import MemoryStore
from tests.unit.api.api_support import HOUR, NOW_NS, Api, cities_of, sites_of

pytestmark = pytest.mark.asyncio


async def test_latest_readings_of_a_device(api: Api) -> None:
    r = await api.get("viewer_rt", "/api/v1/readings/latest?device=school-meter&point=power_total")
    assert r.status_code == 200
    [item] = r.json()["items"]
    assert item["unit"] == "W" and item["quality"] == "good"
    assert item["t_ms"] == (NOW_NS - 60 * 10**9) // 10**6
    assert isinstance(item["value"], float) and item["value"] > 0


async def test_latest_is_bounded_to_scope_sites(api: Api) -> None:
    await api.get("viewer_rt", "/api/v1/readings/latest")
    _, _, where = api.store.queries[-1]
    assert set(where["site"]) == sites_of("riverton")
    body = (await api.get("viewer_rt", "/api/v1/readings/latest?limit=1000")).json()
    assert body["total"] > 10
    assert all(i["site"].startswith("rt-") for i in body["items"])


async def test_series_aggregates_by_window(api: Api) -> None:
    r = await api.get(
        "viewer_rt",
        "/api/v1/series?device=school-meter&point=power_total&start=-1h&window=15m&agg=max",
    )
    body = r.json()
    assert body["window"] == "15m" and body["aggregate"] == "max" and not body["downsampled"]
    [s] = body["series"]
    assert len(s["t_ms"]) == 4 and all(t % (15 * 60 * 1000) == 0 for t in s["t_ms"])
    q = api.store.queries[-1]
    assert isinstance(q, SeriesQuery) and q.every_ns == 15 * 60 * 10**9


async def test_long_range_is_downsampled(api: Api) -> None:
    url = "/api/v1/series?device=school-meter&point=power_total&start=-30d"
    r = await api.get("viewer_rt", url)
    body = r.json()
    assert body["downsampled"] is True and body["window"] == "1h"
    short = await api.get("viewer_rt", "/api/v1/series?device=school-meter&start=-1h")
    assert short.json()["window"] is None


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("window=1s", 422),
        ("window=banana", 422),
        ("window=1m&start=-30d", 422),  # 43200 windows
        ("start=2025-13-01", 422),
        ("start=now&end=-1h", 422),
        ("agg=median", 422),
        ("start=-99999999mo", 422),
    ],
)
async def test_bad_series_queries_are_422_problems(api: Api, query: str, status: int) -> None:
    r = await api.get("viewer_rt", f"/api/v1/series?device=school-meter&{query}")
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_csv_export(api: Api) -> None:
    r = await api.get(
        "viewer_rt", "/api/v1/series.csv?device=office-meter&point=power_total&start=-1h"
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["time", "site", "device", "point", "unit", "value"]
    assert len(rows) == 61 and all(row[2] == "office-meter" for row in rows[1:])
    assert rows[1][0].endswith("Z")


async def test_anomalies_and_scores(api: Api) -> None:
    r = await api.get("viewer_rt", "/api/v1/anomalies?start=-1d&status=open")
    items = r.json()["items"]
    assert {e["site"] for e in items} == sites_of("riverton")
    assert all(e["peak_score"] == pytest.approx(0.93) for e in items)
    r = await api.get("viewer_rt", "/api/v1/anomalies/scores?site=rt-school&start=-2h")
    assert r.json()["series"][0]["values"] == [pytest.approx(0.93)]


async def test_emissions_report_levels(api: Api) -> None:
    r = await api.get("viewer_rt", "/api/v1/reports/emissions?level=site&site=rt-school&start=-1d")
    [row] = r.json()["items"]
    assert r.json()["gwp"] == "AR5"  # programme.yaml sets none: the default set
    kwh = row["energy_kwh"]["import"]
    assert row["emissions_kgco2e"]["location"]["2"] == pytest.approx(kwh * 0.58, rel=1e-3)
    assert row["intensity"]["kwh_per_m2"] == pytest.approx(kwh / 6200)
    city = (await api.get("viewer_rt", "/api/v1/reports/emissions?level=city&start=-1d")).json()
    # Public partner cities are in city-level reports even for a riverton-only key.
    assert {c["id"] for c in city["items"]} == cities_of()
    assert city["items"][1]["intensity"]["kgco2e_per_capita"] > 0
    district = await api.get(
        "viewer_rt", "/api/v1/reports/emissions?level=district&district=lakeside-harbour"
    )
    assert district.status_code == 404


async def test_overview_and_carbon_intensity(api: Api) -> None:
    r = await api.get("viewer_all", "/api/v1/overview")
    sites = {s["id"]: s for s in r.json()}
    assert set(sites) == sites_of()
    assert sites["rt-school"]["power_kw"] > 0
    assert sites["rt-school"]["open_anomalies"] == 1
    assert sites["rt-school"]["energy_today_kwh"] > 0
    assert sites["lk-townhall"]["carbon_intensity_g_per_kwh"] == 580.0
    ci = (await api.get("viewer_rt", "/api/v1/carbon-intensity")).json()
    assert ci == [{"region": "CN-EAST", "g_per_kwh": 580.0, "time": ci[0]["time"]}]


async def test_health_ready_metrics(api: Api) -> None:
    assert (await api.client.get("/health")).json() == {"status": "ok"}
    assert (await api.client.get("/ready")).status_code == 200
    api.store.down = True
    r = await api.client.get("/ready")
    assert r.status_code == 503 and r.json()["checks"]["store"].startswith("unavailable")
    r = await api.get("viewer_rt", "/api/v1/readings/latest")
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    metrics = (await api.client.get("/metrics")).text
    line = 'peakline_api_requests_total{method="GET",route="/api/v1/readings/latest",status="503"}'
    assert line in metrics


async def test_stream_without_broker_is_503(api: Api) -> None:
    r = await api.get("viewer_rt", "/api/v1/stream?site=rt-school")
    assert r.status_code == 503


async def test_request_body_limit(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/sites", content=b"x" * 100_000, headers=api.headers("operator_rt")
    )
    assert r.status_code == 413
    assert r.json()["type"].endswith("too-large")


async def test_dashboard_is_served_with_csp(api: Api) -> None:
    r = await api.client.get("/dashboard/")
    assert r.status_code == 200 and "uPlot" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert (await api.client.get("/dashboard/vendor/uplot/uPlot.iife.min.js")).status_code == 200


async def test_openapi_has_examples_and_security(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    assert "/api/v1/series" in spec["paths"]
    assert "examples" in str(spec["components"]["schemas"]["SeriesResponse"])
    assert spec["components"]["securitySchemes"]


async def test_carbon_intensity_series_is_scoped_to_own_regions(api: Api) -> None:
    r = await api.get("viewer_rt", "/api/v1/carbon-intensity/series?start=-1d&window=1h")
    [s] = r.json()["series"]
    assert s["point"] == "CN-EAST" and len(s["values"]) == 24
    assert all(t % (HOUR // 10**6) == 0 for t in s["t_ms"])
    r = await api.get("viewer_rt", "/api/v1/carbon-intensity/series?region=US-NEWE")
    assert r.status_code == 404


async def test_ready_keeps_the_stores_error_text_out(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #19: /ready is unauthenticated; the store's error (internal host names) goes to
    the log, not to the answer."""
    from peakline_core.storage import StoreUnavailable

    async def refused() -> None:
        raise StoreUnavailable("influxdb.corp.internal:8086: connection refused", 1.0)

    monkeypatch.setattr(api.store, "ping", refused)
    r = await api.client.get("/ready")
    assert r.status_code == 503 and r.json()["checks"]["store"] == "unavailable"
    assert "internal" not in r.text


async def test_private_ops_needs_a_key_for_ready_metrics_and_docs(
    tmp_path: Path, platform_config: PlatformConfig
) -> None:
    keys_db = tmp_path / "keys.db"
    with KeyStore(keys_db) as keys:
        token = keys.create("ops", Role.VIEWER, ["riverton"])[1]
    settings = ApiSettings(config_dir=platform_config.root, store_url="memory:", keys_db=keys_db,
                           private_ops=True)  # fmt: skip
    app = create_app(settings, store=MemoryStore(), config=platform_config, clock_ns=lambda: NOW_NS)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            assert (await client.get("/health")).status_code == 200  # liveness stays open
            for url in ("/ready", "/metrics"):
                assert (await client.get(url)).status_code == 401, url
                auth = {"Authorization": f"Bearer {token}"}
                assert (await client.get(url, headers=auth)).status_code == 200, url
            for url in ("/docs", "/openapi.json"):
                assert (await client.get(url)).status_code == 404, url
