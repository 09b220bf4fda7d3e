"""The retrofits API end to end over the in-memory store: a firmware-sim building whose heating
demand drops on the retrofit date is stored as hourly energy and outdoor temperature; the
savings report finds the injected reduction within its stated uncertainty, with its fit
statistics and the grid factor used. Cross-city access is refused like every other id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_core.storage import Row
from tests.unit.api.api_fakes import MemoryStore
from tests.unit.api.api_support import example_config
from tests.unit.programme.retrofit_support import (
    END,
    HOUR_NS,
    NS,
    RECORD,
    REPO,
    RETROFIT,
    render_building,
    retrofit_rows,
)


@pytest.fixture(scope="module")
def buildings() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return {"retrofit": render_building(True), "unchanged": render_building(False)}


async def _api(tmp_path: Path, rows: list[Row]) -> AsyncIterator[tuple[httpx.AsyncClient, dict]]:
    from peakline_api.settings import ApiSettings

    config = example_config(REPO / "config")
    store = MemoryStore()
    await store.write(rows)
    keys_db = tmp_path / "keys.db"
    with KeyStore(keys_db) as keys:
        tokens = {
            n: keys.create(n, role, cities)[1]
            for n, (role, cities) in {
                "op_rt": (Role.OPERATOR, ["riverton"]),
                "op_lk": (Role.OPERATOR, ["lakeside"]),
                "viewer_rt": (Role.VIEWER, ["riverton"]),
            }.items()
        }
    settings = ApiSettings(config_dir=config.root, store_url="memory:", keys_db=keys_db,
                           dashboard=False)  # fmt: skip
    now = int(END.timestamp()) * NS + HOUR_NS
    app = create_app(settings, store=store, config=config, clock_ns=lambda: now)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client, {n: {"Authorization": f"Bearer {t}"} for n, t in tokens.items()}


async def test_retrofit_savings_found_within_uncertainty(tmp_path: Path, buildings) -> None:
    ts, kwh, temp = buildings["retrofit"]
    _, untouched, _ = buildings["unchanged"]
    after = ts >= int(RETROFIT.timestamp()) * NS
    true_kwh = float(untouched[after].sum() - kwh[after].sum())
    async for client, auth in _api(tmp_path, retrofit_rows(ts, kwh, temp)):
        r = await client.post("/api/v1/retrofits", json=RECORD, headers=auth["op_rt"])
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        listed = await client.get("/api/v1/retrofits?city=riverton", headers=auth["viewer_rt"])
        assert [x["id"] for x in listed.json()] == [rid]
        s = await client.get(
            f"/api/v1/retrofits/{rid}/savings?baseline_days=120", headers=auth["viewer_rt"]
        )
        assert s.status_code == 200, s.text
        body = s.json()
    assert body["baseline"]["fit_for_purpose"] and body["baseline"]["warnings"] == []
    assert body["baseline"]["cv_rmse"] < 0.2 and abs(body["baseline"]["nmbe"]) < 0.005
    assert body["significant"]
    assert abs(body["avoided_kwh"] - true_kwh) <= body["uncertainty_kwh"]
    assert body["reporting"]["days_used"] == 45
    f = body["factor"]
    assert f["region"] and f["set_id"] and f["kgco2e_per_kwh"] > 0
    assert body["avoided_tco2e"] == pytest.approx(body["avoided_kwh"] * f["kgco2e_per_kwh"] / 1000)
    assert body["inputs"]["temperature"]["devices"] == ["school-hvac"]


async def test_no_change_is_not_significant(tmp_path: Path, buildings) -> None:
    ts, kwh, temp = buildings["unchanged"]
    async for client, auth in _api(tmp_path, retrofit_rows(ts, kwh, temp)):
        rid = (await client.post("/api/v1/retrofits", json=RECORD, headers=auth["op_rt"])).json()[
            "id"
        ]
        body = (
            await client.get(f"/api/v1/retrofits/{rid}/savings?baseline_days=120",
                             headers=auth["op_rt"])
        ).json()  # fmt: skip
    assert not body["significant"]
    assert abs(body["avoided_kwh"]) <= body["uncertainty_kwh"]


async def test_retrofits_are_scoped_to_the_city(tmp_path: Path) -> None:
    async for client, auth in _api(tmp_path, []):
        r = await client.post("/api/v1/retrofits", json=RECORD, headers=auth["op_rt"])
        rid = r.json()["id"]
        for url in (f"/api/v1/retrofits/{rid}", f"/api/v1/retrofits/{rid}/savings"):
            assert (await client.get(url, headers=auth["op_lk"])).status_code == 404
        assert (await client.get("/api/v1/retrofits", headers=auth["op_lk"])).json() == []
        # Lakeside cannot record a retrofit on a riverton site; a viewer cannot record at all.
        bad = await client.post("/api/v1/retrofits", json=RECORD, headers=auth["op_lk"])
        assert bad.status_code == 404
        ro = await client.post("/api/v1/retrofits", json=RECORD, headers=auth["viewer_rt"])
        assert ro.status_code == 403
        # No weather data: a clear refusal, not a made-up number.
        s = await client.get(f"/api/v1/retrofits/{rid}/savings", headers=auth["op_rt"])
        assert s.status_code == 422 and "outdoor_temp" in s.json()["detail"]


async def test_an_out_of_range_retrofit_date_is_refused_and_never_fails_the_benchmark(
    tmp_path: Path,
) -> None:
    """Issue #19: a retrofit dated 0001-01-10 raised OverflowError in the savings maths and
    made the benchmark answer 500 for every city. It is refused on input, and one recorded
    before the bound is reported as not counted, in its own city only."""
    from datetime import date

    from peakline_api.retrofit_store import RetrofitStore

    async for client, auth in _api(tmp_path, []):
        for day in ("0001-01-10", "1999-12-31", "2099-01-01"):
            bad = await client.post(
                "/api/v1/retrofits", json={**RECORD, "date": day}, headers=auth["op_rt"]
            )
            assert bad.status_code == 422, (day, bad.text)
        with RetrofitStore(tmp_path / "retrofits.db") as store:
            old = store.add("rt-school", date(1, 1, 10), ["x"], None, None, "", "k", 0)
        for who in ("op_rt", "op_lk"):
            for url in ("/api/v1/programme/benchmark", "/api/v1/programme/benchmark.csv"):
                r = await client.get(url, headers=auth[who])
                assert r.status_code == 200, (who, url, r.text)
        body = (await client.get("/api/v1/programme/benchmark", headers=auth["op_rt"])).json()
        (riverton,) = [it for it in body["items"] if it["id"] == "riverton"]
        assert riverton["retrofits"]["counted"] == 0
        s = await client.get(f"/api/v1/retrofits/{old.id}/savings", headers=auth["op_rt"])
        assert s.status_code == 422, s.text


async def test_savings_reports_are_cached_per_hour(
    tmp_path: Path, buildings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #19: the benchmark of every city recomputes every retrofit's savings; a report is
    reused within the clock hour instead of re-reading a year of days from the store."""
    ts, kwh, temp = buildings["retrofit"]
    queries = []
    original = MemoryStore.query

    async def counted(self, query):  # type: ignore[no-untyped-def]
        queries.append(query)
        return await original(self, query)

    monkeypatch.setattr(MemoryStore, "query", counted)
    async for client, auth in _api(tmp_path, retrofit_rows(ts, kwh, temp)):
        rid = (await client.post("/api/v1/retrofits", json=RECORD, headers=auth["op_rt"])).json()[
            "id"
        ]
        url = f"/api/v1/retrofits/{rid}/savings?baseline_days=120"
        first = (await client.get(url, headers=auth["op_rt"])).json()
        n = len(queries)
        again = (await client.get(url, headers=auth["viewer_rt"])).json()
        assert again == first and len(queries) == n and n > 0
