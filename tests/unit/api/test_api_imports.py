"""POST /api/v1/imports (upload, dry run) and /imports/{id}/commit over the real app and a
SQLite store: nothing lands before the commit, an operator of another city cannot see the
site, a viewer cannot import, and a second upload of the same file commits nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_api.settings import ApiSettings
from peakline_core.config.loader import load_config
from peakline_core.storage import TotalsQuery
from peakline_core.storage.schema import ENERGY
from peakline_store.sqlite import SqliteStore

REPO = Path(__file__).resolve().parents[3]
CASES = REPO / "tests" / "cases" / "import"
NOW_NS = 1_767_225_600 * 1_000_000_000
KEYS = {
    "operator_rt": (Role.OPERATOR, ["riverton"]),
    "operator_lk": (Role.OPERATOR, ["lakeside"]),
    "viewer_rt": (Role.VIEWER, ["riverton"]),
}
QUERY = {
    "kind": "interval",
    "site": "rt-school",
    "device": "school-meter",
    "file": "utility_15min_dst.csv",
    "timezone": "America/New_York",
}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, SqliteStore, dict]]:
    config = load_config(REPO / "config")
    store = SqliteStore(tmp_path / "store.db")
    keys_db = tmp_path / "keys.db"
    with KeyStore(keys_db) as keys:
        tokens = {name: keys.create(name, role, cities)[1] for name, (role, cities) in KEYS.items()}
    settings = ApiSettings(config_dir=config.root, store_url="memory:", keys_db=keys_db)
    app = create_app(settings, store=store, config=config, clock_ns=lambda: NOW_NS)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            yield c, store, {k: {"Authorization": f"Bearer {t}"} for k, t in tokens.items()}
    await store.aclose()


async def stored_kwh(store: SqliteStore) -> float:
    got = await store.totals(TotalsQuery(ENERGY, ("kwh",), 0, 2**62))
    return sum(t.sums.get("kwh", 0.0) for t in got)


async def test_upload_is_a_dry_run_and_commit_writes_once(client) -> None:
    c, store, auth = client
    body = (CASES / "utility_15min_dst.csv").read_bytes()
    r = await c.post("/api/v1/imports", params=QUERY, content=body, headers=auth["operator_rt"])
    assert r.status_code == 201, r.text
    dry = r.json()
    assert (dry["rows"], dry["new"], dry["errors"], dry["committed"]) == (196, 196, [], False)
    assert await stored_kwh(store) == 0.0

    other = await c.post(f"/api/v1/imports/{dry['id']}/commit", headers=auth["operator_lk"])
    assert other.status_code == 404
    done = await c.post(f"/api/v1/imports/{dry['id']}/commit", headers=auth["operator_rt"])
    assert done.status_code == 200, done.text
    assert done.json()["written"] == 196
    assert await stored_kwh(store) == pytest.approx(dry["total"])

    again = await c.post("/api/v1/imports", params=QUERY, content=body, headers=auth["operator_rt"])
    assert again.json()["unchanged"] == 196 and again.json()["committed_before_ns"] == [NOW_NS]
    twice = await c.post(
        f"/api/v1/imports/{again.json()['id']}/commit", headers=auth["operator_rt"]
    )
    assert twice.json()["written"] == 0
    gone = await c.post(f"/api/v1/imports/{dry['id']}/commit", headers=auth["operator_rt"])
    assert gone.status_code == 404  # a committed upload is gone


async def test_access_and_bad_files(client) -> None:
    c, _, auth = client
    body = (CASES / "bad_rows.csv").read_bytes()
    lk = await c.post("/api/v1/imports", params=QUERY, content=body, headers=auth["operator_lk"])
    assert lk.status_code == 404  # another city's site: not visible
    viewer = await c.post("/api/v1/imports", params=QUERY, content=body, headers=auth["viewer_rt"])
    assert viewer.status_code == 403
    r = await c.post(
        "/api/v1/imports",
        params={**QUERY, "file": "bad_rows.csv"},
        content=body,
        headers=auth["operator_rt"],
    )
    assert [e["line"] for e in r.json()["errors"]] == [4, 5, 6, 8, 10, 12, 13]
    naive = await c.post(
        "/api/v1/imports",
        params={k: v for k, v in QUERY.items() if k != "timezone"},
        content=body,
        headers=auth["operator_rt"],
    )
    assert naive.status_code == 422 and "time zone" in naive.json()["detail"]
