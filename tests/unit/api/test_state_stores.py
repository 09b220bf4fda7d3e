"""Each store of the API's state keeps the same contract on SQLite and on PostgreSQL: keys,
retrofits, refrigerant records, alert incidents, outbox and rules; and PostgreSQL's schema is
migrated once however many replicas start at the same time."""

from __future__ import annotations

import threading
from datetime import date

import psycopg
import pytest

from peakline_api.alerts.store import AlertStore
from peakline_api.keys import KeyStore, KeyStoreError, Role
from peakline_api.refrigerant_store import RefrigerantStore
from peakline_api.retrofit_store import RetrofitStore
from peakline_api.statedb import PostgresState, StateError, open_postgres
from peakline_api.statedb.migrations import LATEST, MIGRATIONS
from peakline_core.alerts import Incident
from peakline_core.config.alerts import Rule
from peakline_testing.servers import Postgres
from tests.state_backends import StateBackend

NOW = 1_800_000_000_000_000_000


def test_keys(state_backend: StateBackend) -> None:
    with (
        KeyStore(state_backend.where("keys.db")) as a,
        KeyStore(state_backend.where("keys.db")) as b,
    ):  # two replicas
        key, token = a.create("ops", Role.OPERATOR, ["riverton", "harbour"])
        seen = b.verify(token)
        assert seen is not None and seen.id == key.id and seen.role is Role.OPERATOR
        assert seen.cities == ("harbour", "riverton")
        assert b.verify(token[:-1] + ("x" if token[-1] != "x" else "y")) is None
        assert b.verify("plk_nope_secret") is None
        _, other = b.create("viewer", Role.VIEWER, ["*"])
        assert [k.name for k in a.list()] == ["ops", "viewer"]
        a.revoke(key.id)
        assert b.verify(token) is None and not b.is_active(key.id)
        assert b.verify(other) is not None
        with pytest.raises(KeyStoreError):
            b.revoke(key.id)  # already revoked


def test_retrofits(state_backend: StateBackend) -> None:
    with RetrofitStore(state_backend.where("retrofits.db")) as store:
        late = store.add("s1", date(2026, 5, 1), ["led"], None, None, "", "key:a", NOW)
        early = store.add(
            "s1", date(2025, 9, 1), ["chiller", "vfd"], 120_000.5, "CNY", "phase 1", "key:a", NOW
        )
        store.add("s2", date(2026, 1, 1), ["bms"], 10.0, "CNY", "", "key:b", NOW + 1)
        assert store.get(early.id) == early and store.get("nope") is None
        assert [r.id for r in store.of_sites(["s1"])] == [early.id, late.id]
        assert store.of_sites([]) == []
        assert len(list(store)) == 3


def test_refrigerant_records(state_backend: StateBackend) -> None:
    with RefrigerantStore(state_backend.where("refrigerants.db")) as store:
        b = store.add("ch-2", date(2026, 2, 1), "recovery", 3.25, "", "key:a", NOW)
        a = store.add("ch-1", date(2026, 1, 5), "top_up", 1.5, "leak fixed", "key:a", NOW)
        store.add("ch-3", date(2026, 1, 1), "top_up", 9.0, "", "key:a", NOW)
        assert store.of_assets(["ch-1", "ch-2"]) == [a, b]
        assert store.of_assets([]) == []


def _incident(state: str = "open", **kw: object) -> Incident:
    values: dict[str, object] = {
        "id": "i1", "rule": "r1", "subject": "dev1", "city": "c1", "site": "s1",
        "severity": "warning", "state": state, "opened_ns": NOW, "summary": {"kw": 120.5},
    } | kw  # fmt: skip
    return Incident(**values)  # type: ignore[arg-type]


def test_alert_incidents_and_outbox(state_backend: StateBackend) -> None:
    with AlertStore(state_backend.where("alerts.db")) as store:
        store.save(_incident(), [("i1:open", "ops", "opened", NOW, NOW)])
        store.save(  # the same transition again (a restart): enqueued once
            _incident(acknowledged_ns=NOW + 5, acknowledged_by="key:a", state="acknowledged"),
            [("i1:open", "ops", "opened", NOW, NOW), ("i1:ack", "ops", "acknowledged", NOW, NOW)],
        )
        live = store.live("r1", "dev1")
        assert live is not None and live.state == "acknowledged" and live.summary == {"kw": 120.5}
        assert [i.id for i in store.live_of_rule("r1")] == ["i1"]
        assert [i.id for i in store.search(["c1"], state="acknowledged")] == ["i1"]
        assert store.search(["c2"]) == []
        items = store.outbox("i1")
        assert [(o.key, o.transition) for o in items] == [
            ("i1:ack", "acknowledged"), ("i1:open", "opened"),
        ] or sorted(o.key for o in items) == ["i1:ack", "i1:open"]  # fmt: skip
        opened = next(o for o in items if o.key == "i1:open")
        assert '"state": "open"' in opened.snapshot  # the incident as it was then
        assert len(store.due(NOW)) == 2
        store.mark_sent("i1:open", "ops", NOW + 1)
        store.mark_failed("i1:ack", "ops", "HTTP 500", NOW + 30)
        assert store.due(NOW + 1) == []
        [retry] = store.due(NOW + 30)
        assert (retry.key, retry.attempts, retry.last_error) == ("i1:ack", 1, "HTTP 500")
        store.mark_failed("i1:ack", "ops", "HTTP 500", None)
        assert store.due(NOW + 10**12) == []
        assert store.save(_incident(state="resolved", resolved_ns=NOW + 9)) is None
        assert store.live("r1", "dev1") is None
        store.save(_incident("open", id="i2", opened_ns=NOW + 10))  # a new live one
        assert store.live("r1", "dev1") is not None


def test_alert_bookkeeping_and_rules(state_backend: StateBackend) -> None:
    with AlertStore(state_backend.where("alerts.db")) as store:
        assert store.since_ns(NOW) == NOW
        assert store.since_ns(NOW + 5) == NOW  # set once
        for t in (NOW - 4000 * 10**9, NOW - 10, NOW - 5):
            store.record_request("robot", t)
        store.record_request("robot", NOW)  # also forgets requests older than an hour
        assert store.requests_since("robot", NOW - 3600 * 10**9) == 3
        rules = [
            Rule.model_validate(
                {
                    "id": rid,
                    "name": rid,
                    "scope": {"city": "c1"},
                    "condition": {"kind": "no_data", "minutes": 30},
                }
            )
            for rid in ("zeta", "alpha", "mid")
        ]
        for r in rules:
            assert store.put_rule(r, "key:a", NOW, create=True)
        assert not store.put_rule(rules[0], "key:a", NOW, create=True)
        assert [r.id for r in store.rules()] == ["zeta", "alpha", "mid"]  # creation order
        changed = rules[1].model_copy(update={"name": "renamed"})
        assert store.put_rule(changed, "key:b", NOW + 1, create=False)
        assert store.rule_meta("alpha") == (NOW + 1, "key:b")
        assert [r.name for r in store.rules()] == ["zeta", "renamed", "mid"]
        assert store.delete_rule("zeta") and not store.delete_rule("zeta")
        assert not store.put_rule(rules[0], "key:a", NOW, create=False)


def test_migrations_run_once_when_replicas_start_together(pg_database: str) -> None:
    # Six replicas open the same empty database at the same instant: each migration is
    # applied by exactly one of them and recorded once; a later start applies nothing.
    barrier = threading.Barrier(6)
    applied: list[list[int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def replica() -> None:
        db = PostgresState(pg_database)
        try:
            barrier.wait()
            versions = db.migrate()
            with lock:
                applied.append(versions)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=replica) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(v for vs in applied for v in vs) == [m[0] for m in MIGRATIONS]
    with open_postgres(pg_database) as db:
        assert db.migrate() == []
        assert db.query("SELECT version FROM schema_version ORDER BY version") == [
            (v,) for v, _, _ in MIGRATIONS
        ]
        assert MIGRATIONS[-1][0] == LATEST


def test_password_from_a_file_and_errors_without_it(postgres: Postgres, pg_database: str) -> None:
    name = pg_database.rsplit("/", 1)[1]
    url = postgres.url(name, with_password=False)
    with open_postgres(url, postgres.password_file) as db:
        assert db.query("SELECT 1") == [(1,)]
    with pytest.raises(StateError) as info:
        open_postgres(url)  # no password anywhere
    assert postgres.password not in str(info.value)
    with pytest.raises(StateError, match="expected postgresql"):
        open_postgres("mysql://db/x")


def test_a_broken_connection_is_reopened(postgres: Postgres, pg_database: str) -> None:
    with open_postgres(pg_database) as db, KeyStore(db) as keys:
        key, token = keys.create("ops", Role.ADMIN, ["*"])
        admin_kill(postgres, pg_database)
        seen = keys.verify(token)  # a read finds the connection broken and reconnects
        assert seen is not None and seen.id == key.id
        admin_kill(postgres, pg_database)
        with pytest.raises(StateError):  # a write is not retried: it may have committed
            keys.create("late", Role.VIEWER, ["*"])
        assert [k.name for k in keys.list()] == ["ops"]


def admin_kill(postgres: Postgres, url: str) -> None:
    """Terminate every server process of the database behind `url` (as a failover would)."""
    with psycopg.connect(postgres.url(), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid != pg_backend_pid()",
            (url.rsplit("/", 1)[1],),
        )
