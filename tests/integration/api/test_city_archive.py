"""Issue 23's export, done when "a city export re-imported into an empty store gives the same
reports": a store with live-derived data (readings through the deriver, an import, anomaly
events, a command, an alert incident) is exported through the API as a streamed zip, restored
into an empty store (SQLite, and a fresh influxd database), and a second API on the restored
store answers the yearly and monthly site and city reports, the inventory, the anomalies,
commands and incidents exactly as the first."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from peakline_api.archive import (
    AppDatabases,
    ArchiveInvalid,
    TargetNotEmpty,
    city_scope,
    export_city,
    restore_archive,
)
from peakline_api.archive.state_restore import RESTORED_NOTE
from peakline_api.statedb import open_postgres
from peakline_cli.main import app as cli
from peakline_core.config import PlatformConfig
from peakline_core.storage import Row, SeriesQuery, StoreTruncated
from peakline_store.open import open_store
from tests.integration.api.api_live_support import LiveApi, build, serve
from tests.integration.api.archive_support import (
    CITY,
    END,
    OTHER,
    START,
    seed_databases,
    seed_store,
)
from tests.state_backends import StateBackend

pytestmark = pytest.mark.timeout(600)
YEAR = {"start": "2025-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
NOVEMBER = {"start": "2025-11-01T00:00:00Z", "end": "2025-12-01T00:00:00Z"}
DECEMBER = {"start": "2025-12-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}
ENERGY_COLUMNS = ["time_ns", "site", "device", "flow", "kwh", "estimated_kwh", "suspect_kwh",
                  "covered_s", "suspect_n", "quality", "source"]  # fmt: skip
ANSWERS: list[tuple[str, dict[str, Any]]] = [
    *[
        ("/api/v1/reports/emissions", {"level": level, "city": CITY, **period})
        for level in ("site", "city")
        for period in (YEAR, NOVEMBER, DECEMBER)
    ],
    *[("/api/v1/reports/inventory", {"level": lv, "year": 2025}) for lv in ("site", "city")],
    ("/api/v1/energy", {"resolution": "1d", "city": CITY, **YEAR}),
    ("/api/v1/anomalies", {"city": CITY, **YEAR}),
    ("/api/v1/commands", {"city": CITY, **YEAR}),
    ("/api/v1/alerts/incidents", {}),
]


def _second_store(store_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored.db'}"
    server = request.getfixturevalue("influxd")
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.query(f'CREATE DATABASE "{name}"')
    return f"{server.url}?db={name}"


def _state_url(store_url: str, request: pytest.FixtureRequest) -> str | None:
    """The API state beside the store: SQLite files beside an SQLite store, a fresh
    PostgreSQL database beside influxd (so both backends of each are exercised)."""
    if store_url.startswith("sqlite"):
        return None
    postgres = request.getfixturevalue("postgres")
    return str(postgres.create_database(f"t_{uuid.uuid4().hex[:12]}"))


@contextlib.contextmanager
def _databases(state_url: str | None, folder: Path) -> Iterator[AppDatabases]:
    if state_url is None:
        yield AppDatabases.beside(folder / "keys.db")
        return
    with open_postgres(state_url) as db:
        yield AppDatabases(db, db, db, db)


async def _answers(
    app: object, token: str, extra: Sequence[tuple[str, dict[str, Any]]] = ()
) -> list[Any]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    out = []
    async with (
        app.router.lifespan_context(app),  # type: ignore[attr-defined]
        httpx.AsyncClient(transport=transport, base_url="http://api") as client,
    ):
        for url, params in [*ANSWERS, *extra]:
            r = await client.get(url, params=params, headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, (url, r.text)
            answer = r.json()
            if "items" in answer and answer.get("level") == "city":  # partner cities are public
                answer["items"] = [i for i in answer["items"] if i["id"] == CITY]
            out.append(answer)
    return out


@dataclass
class Original:
    app: object
    tokens: dict[str, str]
    state_url: str | None


@pytest.fixture
async def original(
    tmp_path: Path,
    platform_config: PlatformConfig,
    store_url: str,
    request: pytest.FixtureRequest,
) -> Original:
    await _seed(store_url, platform_config)
    (tmp_path / "a").mkdir()
    state_url = _state_url(store_url, request)
    app, tokens = await build(
        tmp_path / "a", platform_config, store_url, seed=False, now_ns=END, state_url=state_url
    )
    with _databases(state_url, tmp_path / "a") as dbs:
        seed_databases(dbs)
    return Original(app, tokens, state_url)


async def _export_over_http(original: Original, archive: Path) -> None:
    async with (
        serve(original.app) as base,
        httpx.AsyncClient(base_url=base, timeout=120) as client,
        client.stream(
            "GET",
            f"/api/v1/exports/{CITY}",
            params={"start": YEAR["start"], "end": YEAR["end"]},
            headers={"Authorization": f"Bearer {original.tokens['operator_rt']}"},
        ) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/zip"
        assert "content-length" not in r.headers  # streamed, not built then sent
        with archive.open("wb") as out:
            async for chunk in r.aiter_bytes():
                out.write(chunk)


async def test_a_city_export_restored_into_an_empty_store_gives_the_same_reports(
    original: Original,
    platform_config: PlatformConfig,
    store_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """Exported over HTTP from a running API (SQLite store and state files; influxd and a
    PostgreSQL state), restored into an empty store and an empty state of the same kinds: a
    second API answers the reports and the city's commands, DR events with their per-site
    results, incidents with their notifications, rules, retrofits and refrigerant records as
    the first. Restoring again is refused (the target holds the city's rows) unless forced."""
    archive = tmp_path / "riverton-2025.zip"
    await _export_over_http(original, archive)
    with zipfile.ZipFile(archive) as z:
        manifest = json.loads(z.read("manifest.json"))
        rows = {k: v["rows"] for k, v in manifest["members"].items()}
        assert manifest["city"] == CITY and manifest["storage_schema"] >= 3
        for name in ("reading", "energy", "energy_1h", "energy_1mo", "emissions",
                     "anomaly_score", "anomaly_event", "import_ledger"):  # fmt: skip
            assert rows[f"series/{name}.csv"] > 0, name
        assert {m: rows[f"tables/{m}.jsonl"] for m in TABLE_ROWS} == TABLE_ROWS
        everything = b"".join(z.read(n) for n in z.namelist() if n != "config/city.json")
        assert b"lk-townhall" not in everything and OTHER.encode() not in everything
        energy = z.read("series/energy.csv").decode().splitlines()
        assert energy[0].split(",") == ENERGY_COLUMNS
        assert any(",imported,utility_15min_dst.csv:" in line for line in energy)

    restored_url = _second_store(store_url, request, tmp_path)
    state_url = _state_url(store_url, request)
    (tmp_path / "b").mkdir()
    for force in (False, True):
        store = open_store(restored_url)
        try:
            with _databases(state_url, tmp_path / "b") as databases:
                report = await restore_archive(store, archive, databases, force=force, now_ns=END)
                assert report.rows == {k: v for k, v in rows.items() if k != "config/city.json"}
                if not force:  # a second restore into the same target is refused
                    with pytest.raises(TargetNotEmpty, match=r"series/reading\.csv") as refused:
                        await restore_archive(store, archive, databases, now_ns=END)
                    assert "2 rows of tables/commands.jsonl" in str(refused.value)
        finally:
            await store.aclose()
        restored, tokens_b = await build(
            tmp_path / "b", platform_config, restored_url, seed=False, now_ns=END,
            state_url=state_url,
        )  # fmt: skip
        extra = [
            ("/api/v1/dr-events/dr-riverton", {}),
            ("/api/v1/alerts/incidents/inc-riverton", {}),
            ("/api/v1/alerts/rules", {}),
            ("/api/v1/retrofits", {"city": CITY}),
            ("/api/v1/refrigerants/office-chiller-1/service", {}),
            ("/api/v1/dr-events", {}),
        ]
        want = await _answers(original.app, original.tokens["operator_rt"], extra)
        got = await _answers(restored, tokens_b["operator_rt"], extra)
        for (url, params), w, g in zip([*ANSWERS, *extra[:-1]], want, got, strict=False):
            assert g == w, (url, params)
        # not empty answers: energy and emissions, inventory, anomalies, commands, incidents
        assert sum(r["energy_kwh"].get("import", 0.0) for r in want[0]["items"]) > 0
        assert sum(r["emissions_kgco2e"]["location"].get("2", 0.0) for r in want[0]["items"]) > 0
        assert want[6]["items"] and want[9]["items"] and want[10]["items"] and want[11]
        dr, incident, rules, retrofits, service, events = want[len(ANSWERS) :]
        assert dr["state"] == "completed" and dr["commands"][0]["state"] == "applied"
        assert dr["results"]["sites"][0]["site"] == "rt-school"
        assert dr["results"]["sites"][0]["actual_kw"] is not None  # from the restored meter
        assert sorted(n["status"] for n in incident["notifications"]) == ["failed", "sent"]
        assert "rt-api-rule" in {r["id"] for r in rules}
        assert [r["site"] for r in retrofits] == ["rt-school"] and len(service) == 1
        # the DR event not yet started is history on the target, not a plan to carry out
        by_id = {e["id"]: e for e in got[-1]["items"]}
        assert {e["id"]: e["state"] for e in events["items"]} == {
            "dr-riverton": "completed", "dr-later": "scheduled"
        }  # fmt: skip
        assert by_id["dr-later"]["state"] == "cancelled" and by_id["dr-riverton"] == dr


TABLE_ROWS = {
    "commands": 2,  # riverton's and its DR event's
    "command_events": 5,
    "dr_events": 2,
    "alert_incidents": 1,
    "alert_outbox": 2,
    "alert_rules": 1,
    "retrofits": 1,
    "refrigerant_service": 1,
}


async def test_a_damaged_archive_writes_nothing(
    original: Original, tmp_path: Path, store_url: str
) -> None:
    app, tokens = original.app, original.tokens
    async with (
        app.router.lifespan_context(app),  # type: ignore[attr-defined]
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c,  # type: ignore[arg-type]
    ):
        r = await c.get(
            f"/api/v1/exports/{CITY}",
            params={"start": NOVEMBER["start"], "end": DECEMBER["end"]},
            headers={"Authorization": f"Bearer {tokens['admin_all']}"},
        )
    assert r.status_code == 200
    damaged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(r.content)) as z, zipfile.ZipFile(damaged, "w") as out:
        for info in z.infolist():
            data = z.read(info)
            if info.filename == "series/energy_1mo.csv":
                data = data.replace(b"0.", b"9.", 1)  # one digit of one roll-up
            out.writestr(info, data)
    path = tmp_path / "damaged.zip"
    path.write_bytes(damaged.getvalue())
    store = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with pytest.raises(ArchiveInvalid, match=r"energy_1mo\.csv does not match its SHA-256"):
            await restore_archive(store, path, AppDatabases())
        assert await store.query(SeriesQuery("reading", "value", 0, 2**62)) == []
    finally:
        await store.aclose()


async def _seed(url: str, config: PlatformConfig) -> None:
    store = open_store(url)
    try:
        await seed_store(store, config)
    finally:
        await store.aclose()


def test_the_cli_exports_and_restores(
    tmp_path: Path, platform_config: PlatformConfig, repo_root: Path, pg_database: str
) -> None:
    """From an SQLite store and state directory into another store and a PostgreSQL state;
    a second restore is refused (exit 3) until --force."""
    source = f"sqlite:///{tmp_path / 'a.db'}"
    asyncio.run(_seed(source, platform_config))  # the CLI runs its own event loop
    (tmp_path / "state").mkdir()
    seed_databases(AppDatabases.beside(tmp_path / "state" / "keys.db"))
    out = tmp_path / "rt.zip"
    runner = CliRunner()
    done = runner.invoke(
        cli,
        ["export", "--city", CITY, "--from", "2025-11-01", "--to", "2026-01-01", "-o", str(out),
         "--store", source, "--config", str(repo_root / "config"),
         "--state-dir", str(tmp_path / "state")],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    restore = ["import", "archive", str(out), "--store", f"sqlite:///{tmp_path / 'b.db'}",
               "--state-url", pg_database, "--json"]  # fmt: skip
    back = runner.invoke(cli, restore)
    assert back.exit_code == 0, back.output
    rows = json.loads(back.stdout)["rows"]
    assert rows["series/energy.csv"] > 0 and rows["tables/dr_events.jsonl"] == 2
    with open_postgres(pg_database) as db:
        assert db.query("SELECT id, state FROM commands ORDER BY id") == [
            ("cmd-0", "applied"),
            ("dr-riverton-cmd", "applied"),
        ]
        assert len(db.query("SELECT seq FROM command_events")) == 5
    again = runner.invoke(cli, restore)
    assert again.exit_code == 3 and "--force" in again.output
    fresh_store = [*restore[:4], f"sqlite:///{tmp_path / 'c.db'}", *restore[5:]]
    state_only = runner.invoke(cli, fresh_store)  # an empty store, the state holds the city
    assert state_only.exit_code == 3, state_only.output
    assert "the store holds" not in state_only.output
    assert "rows of tables/dr_events.jsonl" in state_only.output
    forced = runner.invoke(cli, [*restore, "--force"])
    assert forced.exit_code == 0, forced.output
    with open_postgres(pg_database) as db:  # replaced, not doubled
        assert len(db.query("SELECT seq FROM command_events")) == 5
        assert len(db.query("SELECT key FROM outbox")) == 2
    # exported again from the PostgreSQL state: the same table rows (event seq renumbered)
    out2 = tmp_path / "rt-again.zip"
    done = runner.invoke(
        cli,
        ["export", "--city", CITY, "--from", "2025-11-01", "--to", "2026-01-01", "-o", str(out2),
         "--store", f"sqlite:///{tmp_path / 'b.db'}", "--config", str(repo_root / "config"),
         "--state-url", pg_database],
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    with zipfile.ZipFile(out) as first, zipfile.ZipFile(out2) as second:
        for name in first.namelist():
            if name.startswith("tables/"):
                rows_1, rows_2 = (
                    [{k: v for k, v in json.loads(line).items() if k != "seq"}
                     for line in z.read(name).splitlines()]
                    for z in (first, second)
                )  # fmt: skip
                if name == "tables/dr_events.jsonl":  # the one not yet started: cancelled
                    later = [json.loads(r.pop("body")) for r in (rows_1[1], rows_2[1])]
                    assert [e["state"] for e in later] == ["scheduled", "cancelled"]
                    assert later[1]["cancelled_by"] == RESTORED_NOTE
                assert rows_1 and rows_2 == rows_1, name
    too_long = runner.invoke(
        cli,
        ["export", "--city", CITY, "--from", "2024-01-01", "--to", "2026-01-01", "-o", str(out),
         "--store", source, "--config", str(repo_root / "config")],
    )  # fmt: skip
    assert too_long.exit_code == 2 and "at most 367 days" in too_long.output


async def test_who_may_export_what(live_api: LiveApi) -> None:
    url = f"/api/v1/exports/{CITY}"
    year = {"start": "2024-06-01T00:00:00Z", "end": "2025-06-01T00:00:00Z"}
    viewer = await live_api.get("viewer_rt", url, params=year)
    assert viewer.status_code == 403  # sees the city, may not take its data away
    other = await live_api.get("operator_lk", url, params=year)
    assert other.status_code == 404  # a city the key cannot see does not exist for it
    too_long = {"start": "2024-01-01T00:00:00Z", "end": "2025-06-01T00:00:00Z"}
    over = await live_api.get("operator_rt", url, params=too_long)
    assert over.status_code == 422 and "367 days" in over.json()["detail"]
    parquet = await live_api.get("admin_all", url, params={**year, "format": "parquet"})
    assert parquet.status_code == 422
    seeded = await live_api.get("admin_all", url, params=year)
    assert seeded.status_code == 200
    with zipfile.ZipFile(io.BytesIO(seeded.content)) as z:
        assert json.loads(z.read("manifest.json"))["members"]["series/reading.csv"]["rows"] > 0

    empty = await live_api.get(
        "operator_rt", url, params={"start": "2020-01-01T00:00:00Z", "end": "2020-02-01T00:00:00Z"}
    )
    assert empty.status_code == 200
    with zipfile.ZipFile(io.BytesIO(empty.content)) as z:
        manifest = json.loads(z.read("manifest.json"))
        assert manifest["period"]["start"] == "2020-01-01T00:00:00Z"
        for name, meta in manifest["members"].items():
            if name.startswith(("series/", "tables/")):
                assert meta["rows"] == 0, name
                lines = z.read(name).decode().splitlines()
                assert lines == ([] if name.startswith("tables/") else lines[:1])


async def test_a_slice_influxd_cuts_short_is_read_in_halves(
    influx_db: Any, platform_config: PlatformConfig, tmp_path: Path
) -> None:
    """influxd answers a series' first 10,000 points and marks the answer partial; a day of
    5-second readings is 17,280 points: the exporter reads that day again as two halves."""
    store = open_store(f"{influx_db.url}?db={influx_db.database}")
    day = 1_735_689_600 * 10**9  # 2025-01-01T00:00Z
    tags = {"site": "rt-school", "device": "school-air", "point": "co2"}
    rows = [Row("reading", tags, {"value": 400.0 + i % 97, "quality": 0}, day + i * 5 * 10**9)
            for i in range(17_280)]  # fmt: skip
    try:
        await store.write(rows)
        with pytest.raises(StoreTruncated):  # what a one-day read gets
            await store.query(SeriesQuery("reading", "value", day, day + 86_400 * 10**9))
        scope = city_scope(platform_config, CITY, day, day + 86_400 * 10**9)
        data = b"".join([c async for c in export_city(store, scope, AppDatabases(), now_ns=day)])
    finally:
        await store.aclose()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        lines = z.read("series/reading.csv").decode().splitlines()[1:]
    assert len(lines) == 17_280
    assert [int(line.split(",")[0]) for line in lines] == [r.ts for r in rows]


async def test_the_api_state_is_exported_from_either_backend(
    state_backend: StateBackend, platform_config: PlatformConfig, tmp_path: Path
) -> None:
    """Commands and incidents come from the API's own state: its SQLite files, or the shared
    PostgreSQL of `--state-url` (replicas); the city's rows only, on both."""

    def opened(name: str) -> Any:
        where = state_backend.where(name)
        return Path(where) if isinstance(where, str) else where

    dbs = AppDatabases(
        ledger=opened("ledger.db"),
        alerts=opened("alerts.db"),
        refrigerants=opened("refrigerants.db"),
        retrofits=opened("retrofits.db"),
    )
    seed_databases(dbs)
    store = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        scope = city_scope(platform_config, CITY, START, END)
        data = b"".join([c async for c in export_city(store, scope, dbs, now_ns=END)])
    finally:
        await store.aclose()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        table = {
            name: [json.loads(line) for line in z.read(f"tables/{name}.jsonl").splitlines()]
            for name in ("commands", "command_events", "alert_incidents")
        }
    assert [(c["id"], c["site"]) for c in table["commands"]] == [
        ("cmd-0", "rt-school"),
        ("dr-riverton-cmd", "rt-school"),
    ]
    assert [e["command_id"] for e in table["command_events"]] == ["cmd-0"] * 2 + [
        "dr-riverton-cmd"
    ] * 3
    assert [i["city"] for i in table["alert_incidents"]] == [CITY]
