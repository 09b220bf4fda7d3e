"""Two API apps (in process, each with its own connection) on one PostgreSQL state: what an
operator records through one — a retrofit, a refrigerant top-up, an alert rule, a command —
the other answers, and its key works on both (issue 21). The routes' SQLite behaviour is
covered by their own tests; this is the wiring of `--state-url` through every router."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_api.settings import ApiSettings
from peakline_api.statedb import open_postgres
from peakline_core.config import PlatformConfig
from tests.unit.api.api_fakes import MemoryStore
from tests.unit.api.api_support import NOW_NS


@contextlib.asynccontextmanager
async def replica(
    tmp_path: Path, config: PlatformConfig, state_url: str, name: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = ApiSettings(
        config_dir=config.root, store_url="memory:", keys_db=tmp_path / f"{name}-keys.db",
        dashboard=False, state_url=state_url,
    )  # fmt: skip
    app = create_app(settings, store=MemoryStore(), config=config, clock_ns=lambda: NOW_NS)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def test_what_one_replica_records_the_other_answers(
    tmp_path: Path, platform_config: PlatformConfig, pg_database: str
) -> None:
    with open_postgres(pg_database) as db, KeyStore(db) as keys:
        op = {"Authorization": f"Bearer {keys.create('op', Role.OPERATOR, ['riverton'])[1]}"}
        admin = {"Authorization": f"Bearer {keys.create('adm', Role.ADMIN, ['*'])[1]}"}
    async with (
        replica(tmp_path, platform_config, pg_database, "a") as a,
        replica(tmp_path, platform_config, pg_database, "b") as b,
    ):
        record = {"site": "rt-school", "date": "2026-01-10", "measures": ["roof insulation"],
                  "cost": 180000, "currency": "CNY"}  # fmt: skip
        r = await a.post("/api/v1/retrofits", json=record, headers=op)
        assert r.status_code == 201, r.text
        got = await b.get(f"/api/v1/retrofits/{r.json()['id']}", headers=op)
        assert got.status_code == 200 and got.json()["measures"] == ["roof insulation"]

        service = {"date": "2026-04-02", "kg": 12.5, "kind": "top_up", "note": "after repair"}
        url = "/api/v1/refrigerants/office-chiller-1/service"
        assert (await a.post(url, json=service, headers=op)).status_code == 201
        listed = (await b.get(url, headers=op)).json()
        assert [(s["kg"], s["note"]) for s in listed] == [(12.5, "after repair")]

        rule = {
            "id": "office-supply-hot", "name": "office supply too hot",
            "scope": {"city": "riverton", "device": "office-hvac"},
            "condition": {"kind": "threshold", "point": "supply_temp", "op": ">", "value": 30},
        }  # fmt: skip
        r = await a.post("/api/v1/alerts/rules", json=rule, headers=admin)
        assert r.status_code == 201, r.text
        ids = [x["id"] for x in (await b.get("/api/v1/alerts/rules", headers=admin)).json()]
        assert "office-supply-hot" in ids

        for client in (a, b):  # the keys, made once in the shared state
            assert (await client.get("/api/v1/sites", headers=op)).status_code == 200
