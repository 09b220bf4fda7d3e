"""Hostile identifiers and values never reach a store query, and never cause a 5xx."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from peakline_api.cli import app as cli_app
from peakline_api.keys import KeyStore, Role
from tests.unit.api.api_support import Api

HOSTILE = [
    "rt-school' OR 1=1 --",
    'rt-school" OR ""="',
    "rt-school; DROP TABLE reading",
    "rt-school\\",
    "x' OR '1'='1",
    "/**/ OR 1=1",
    "rt-school\nGROUP BY *",
    "школа",
    "rt-school\u0000",
    "%27%20OR%201%3D1",
    "a" * 10_000,
    "../../etc/passwd",
    "$__interval",
    "*",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("name", ["site", "device", "district", "city", "point"])
async def test_hostile_filter_values(api: Api, name: str, value: str) -> None:
    before = len(api.store.queries)
    r = await api.get("admin_all", f"/api/v1/readings/latest?{name}={quote(value)}")
    assert r.status_code in (404, 422), r.text
    assert "application/problem+json" in r.headers["content-type"]
    assert len(api.store.queries) == before  # nothing reached the store


@pytest.mark.parametrize("value", HOSTILE[:-1])
async def test_hostile_path_ids(api: Api, value: str) -> None:
    for base in ("/api/v1/sites/", "/api/v1/devices/"):
        r = await api.get("admin_all", base + quote(value, safe=""))
        assert r.status_code in (404, 422), (base, value, r.status_code)


@pytest.mark.parametrize(
    "query",
    [
        "start=" + quote("now() - 1h; DROP"),
        "window=" + quote("1m) fill(none"),
        "agg=mean%27",
        "start=" + "9" * 400,
    ],
)
async def test_hostile_values(api: Api, query: str) -> None:
    before = len(api.store.queries)
    r = await api.get("admin_all", f"/api/v1/series?device=school-meter&{query}")
    assert r.status_code == 422, r.text
    assert len(api.store.queries) == before


@pytest.mark.parametrize("query", ["limit=-1", "limit=99999999999999999999", "offset=-5"])
async def test_hostile_paging(api: Api, query: str) -> None:
    r = await api.get("admin_all", f"/api/v1/readings/latest?{query}")
    assert r.status_code == 422


async def test_only_registered_ids_reach_the_store(api: Api) -> None:
    await api.get("viewer_all", "/api/v1/series?site=rt-school&point=power_total&start=-1h")
    q = api.store.queries[-1]
    known = {"rt-school", "school-meter", "school-pv", "school-hvac", "school-air", "power_total"}
    assert set(q.where["site"]) | set(q.where.get("device", [])) | set(q.where["point"]) <= known


def test_keys_cli_create_list_revoke(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "keys.db")
    r = runner.invoke(
        cli_app,
        [
            "keys",
            "create",
            "--role",
            "operator",
            "--city",
            "riverton",
            "--name",
            "alice",
            "--keys-db",
            db,
        ],
    )
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("plk_")
    with KeyStore(Path(db)) as keys:
        key = keys.verify(token)
        assert key is not None and key.cities == ("riverton",) and key.role.name == "OPERATOR"
        stored = keys.db.query("SELECT token_sha256 FROM api_key")[0][0]
        assert token not in stored and len(stored) == 64
    listed = runner.invoke(cli_app, ["keys", "list", "--keys-db", db])
    assert "alice" in listed.stdout and token not in listed.stdout
    r = runner.invoke(cli_app, ["keys", "revoke", key.id, "--keys-db", db])
    assert r.exit_code == 0
    with KeyStore(Path(db)) as keys:
        assert keys.verify(token) is None
    bad = runner.invoke(
        cli_app, ["keys", "create", "--role", "root", "--city", "x", "--name", "m", "--keys-db", db]
    )
    assert bad.exit_code == 2


def test_tampered_token_is_refused(tmp_path: Path) -> None:
    with KeyStore(tmp_path / "k.db") as keys:
        _, token = keys.create("a", Role.VIEWER, ["*"])
        assert keys.verify(token) is not None
        assert keys.verify(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
        assert keys.verify(token.replace("plk_", "plk_0")) is None
        assert keys.verify("plk_' OR 1=1 --_x") is None
