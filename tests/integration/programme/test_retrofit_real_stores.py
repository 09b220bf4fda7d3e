"""Retrofit M&V through the real stores (ingest's SQLite store and a real influxd): the daily
aggregation the savings report relies on (UTC days, SUM of energy, MEAN of outdoor
temperature) gives the same answer as the in-memory store, and the injected savings are found
within the stated uncertainty."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_api.settings import ApiSettings
from peakline_store.open import open_store
from tests.unit.api.api_support import example_config
from tests.unit.programme.retrofit_support import (
    END,
    HOUR_NS,
    NS,
    RECORD,
    render_building,
    retrofit_rows,
)

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(params=["sqlite", "influx"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    db = request.getfixturevalue("influx_db")
    return f"{db.url}?db={db.database}"


async def test_savings_through_a_real_store(tmp_path: Path, store_url: str) -> None:
    ts, kwh, temp = render_building(True)
    _, untouched, _ = render_building(False)
    store = open_store(store_url)
    try:
        await store.write(retrofit_rows(ts, kwh, temp))
    finally:
        await store.aclose()
    config = example_config(REPO / "config")
    keys_db = tmp_path / "keys.db"
    with KeyStore(keys_db) as keys:
        token = keys.create("op", Role.OPERATOR, ["riverton"])[1]
    settings = ApiSettings(
        config_dir=config.root, store_url=store_url, keys_db=keys_db, dashboard=False
    )
    now = int(END.timestamp()) * NS + HOUR_NS
    app = create_app(settings, config=config, clock_ns=lambda: now)
    auth = {"Authorization": f"Bearer {token}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            rid = (await client.post("/api/v1/retrofits", json=RECORD, headers=auth)).json()["id"]
            r = await client.get(f"/api/v1/retrofits/{rid}/savings?baseline_days=120", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    retrofit_ns = int(ts[0]) + 120 * 86400 * NS
    after = ts >= retrofit_ns
    true_kwh = float(untouched[after].sum() - kwh[after].sum())
    assert body["baseline"]["days_used"] == 120 and body["reporting"]["days_used"] == 45
    assert body["baseline"]["fit_for_purpose"]
    assert body["significant"]
    assert abs(body["avoided_kwh"] - true_kwh) <= body["uncertainty_kwh"]
