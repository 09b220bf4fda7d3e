"""Incidents and the notification outbox in SQLite (`alerts.db` next to the key database, file
mode 0600), or in the shared PostgreSQL state.

The outbox row's primary key is (transition key, channel): a transition is enqueued once
however often the evaluator runs or restarts, and a row marked sent is never sent again.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from peakline_api.sqlite_file import SqliteFile
from peakline_api.statedb import Leases
from peakline_core.alerts import Incident
from peakline_core.config.alerts import Rule

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incident (
    id TEXT PRIMARY KEY,
    rule TEXT NOT NULL,
    subject TEXT NOT NULL,
    city TEXT NOT NULL,
    site TEXT,
    severity TEXT NOT NULL,
    state TEXT NOT NULL,
    opened_ns INTEGER NOT NULL,
    summary TEXT NOT NULL,
    acknowledged_ns INTEGER,
    acknowledged_by TEXT,
    comment TEXT,
    resolved_ns INTEGER,
    last_notified_ns INTEGER,
    reminders INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS incident_live
    ON incident (rule, subject) WHERE state != 'resolved';
CREATE INDEX IF NOT EXISTS incident_city ON incident (city, state, opened_ns);
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT NOT NULL,
    channel TEXT NOT NULL,
    incident TEXT NOT NULL,
    transition TEXT NOT NULL,
    snapshot TEXT NOT NULL,
    created_ns INTEGER NOT NULL,
    due_ns INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_ns INTEGER,
    dead INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    PRIMARY KEY (key, channel)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (sent_ns, dead, due_ns);
CREATE TABLE IF NOT EXISTS evaluator (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_ns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS channel_send (channel TEXT NOT NULL, at_ns INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS channel_send_at ON channel_send (channel, at_ns);
CREATE TABLE IF NOT EXISTS rule (
    id TEXT PRIMARY KEY,
    city TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_ns INTEGER NOT NULL,
    updated_by TEXT NOT NULL
);
"""

_COLUMNS = [f.name for f in dataclasses.fields(Incident)]
_UPSERT_INCIDENT = (
    f"INSERT INTO incident ({','.join(_COLUMNS)}) VALUES ({','.join('?' * len(_COLUMNS))})"
    " ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "id")
)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    key: str
    channel: str
    incident: str
    transition: str
    snapshot: str
    created_ns: int
    due_ns: int
    attempts: int
    sent_ns: int | None
    dead: bool
    last_error: str | None


_OUTBOX = (
    "key, channel, incident, transition, snapshot, created_ns, due_ns, attempts, sent_ns, dead,"
    " last_error"
)


def _item(r: Sequence[Any]) -> OutboxItem:
    return OutboxItem(
        key=r[0],
        channel=r[1],
        incident=r[2],
        transition=r[3],
        snapshot=r[4],
        created_ns=r[5],
        due_ns=r[6],
        attempts=r[7],
        sent_ns=r[8],
        dead=bool(r[9]),
        last_error=r[10],
    )


def incident_from_snapshot(snapshot: str) -> Incident:
    return Incident(**json.loads(snapshot))


def _incident(row: Sequence[Any]) -> Incident:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["summary"] = json.loads(values["summary"])
    return Incident(**values)


class AlertStore(SqliteFile):
    """`with AlertStore(path_or_state_db) as store:` (sqlite_file.py). Each method is one
    transaction; usable from worker threads (the database serialises its connection)."""

    schema = _SCHEMA

    # incidents

    def live(self, rule: str, subject: str) -> Incident | None:
        rows = self.db.query(
            f"SELECT {','.join(_COLUMNS)} FROM incident"
            " WHERE rule = ? AND subject = ? AND state != 'resolved'",
            (rule, subject),
        )
        return _incident(rows[0]) if rows else None

    def live_of_rule(self, rule: str) -> list[Incident]:
        rows = self.db.query(
            f"SELECT {','.join(_COLUMNS)} FROM incident WHERE rule = ? AND state != 'resolved'",
            (rule,),
        )
        return [_incident(r) for r in rows]

    def get(self, incident_id: str) -> Incident | None:
        rows = self.db.query(
            f"SELECT {','.join(_COLUMNS)} FROM incident WHERE id = ?", (incident_id,)
        )
        return _incident(rows[0]) if rows else None

    def search(
        self,
        cities: Sequence[str],
        *,
        site: str | None = None,
        state: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Incident]:
        """Incidents of these cities, newest first."""
        if not cities:
            return []
        marks = ",".join("?" * len(cities))
        sql = f"SELECT {','.join(_COLUMNS)} FROM incident WHERE city IN ({marks})"
        args: list[Any] = list(cities)
        if site is not None:
            sql += " AND site = ?"
            args.append(site)
        if state is not None:
            sql += " AND state = ?"
            args.append(state)
        sql += " ORDER BY opened_ns DESC, id LIMIT ? OFFSET ?"
        args += [limit, offset]
        return [_incident(r) for r in self.db.query(sql, args)]

    def save(
        self, incident: Incident, outbox: Sequence[tuple[str, str, str, int, int]] = ()
    ) -> None:
        """Upsert the incident and enqueue (key, channel, transition, at_ns, due_ns) rows in one
        transaction, each with the incident as it was at the transition; rows already
        enqueued are left as they are."""
        values = dataclasses.asdict(incident)
        values["summary"] = json.dumps(incident.summary, ensure_ascii=False, sort_keys=True)
        snapshot = json.dumps(dataclasses.asdict(incident), ensure_ascii=False, sort_keys=True)
        with self.db.transaction() as tx:
            tx.execute(_UPSERT_INCIDENT, [values[c] for c in _COLUMNS])
            for k, ch, kind, at, due in outbox:
                tx.execute(
                    "INSERT INTO outbox (key, channel, incident, transition, snapshot,"
                    " created_ns, due_ns) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                    (k, ch, incident.id, kind, snapshot, at, due),
                )

    # lease

    def hold(self, name: str, holder: str, now_ns: int, ttl_ns: int) -> bool:
        """Take or renew the lease `name` (statedb/lease.py): True when `holder` holds it."""
        return Leases(self.db).hold(name, holder, now_ns, ttl_ns)

    def release(self, name: str, holder: str, now_ns: int) -> None:
        """End `holder`'s lease now (a clean shutdown): another replica takes it at once."""
        Leases(self.db).release(name, holder, now_ns)

    def holder(self, name: str) -> tuple[str, int] | None:
        """(holder, until_ns) of the lease, if it was ever taken."""
        return Leases(self.db).holder(name)

    # outbox

    def due(self, now_ns: int, limit: int = 50) -> list[OutboxItem]:
        rows = self.db.query(
            f"SELECT {_OUTBOX} FROM outbox WHERE sent_ns IS NULL AND dead = 0 AND due_ns <= ?"
            " ORDER BY due_ns, key, channel LIMIT ?",
            (now_ns, limit),
        )
        return [_item(r) for r in rows]

    def outbox(self, incident_id: str | None = None) -> list[OutboxItem]:
        sql = f"SELECT {_OUTBOX} FROM outbox"
        args: tuple[str, ...] = ()
        if incident_id is not None:
            sql += " WHERE incident = ?"
            args = (incident_id,)
        rows = self.db.query(sql + " ORDER BY created_ns, key, channel", args)
        return [_item(r) for r in rows]

    def mark_sent(self, key: str, channel: str, now_ns: int) -> None:
        self.db.execute(
            "UPDATE outbox SET sent_ns = ?, attempts = attempts + 1, last_error = NULL"
            " WHERE key = ? AND channel = ?",
            (now_ns, key, channel),
        )

    def mark_failed(self, key: str, channel: str, error: str, retry_ns: int | None) -> None:
        """One failed attempt; `retry_ns` None gives up (the row stays, dead, for the API)."""
        self.db.execute(
            "UPDATE outbox SET attempts = attempts + 1, last_error = ?,"
            " due_ns = COALESCE(?, due_ns), dead = ? WHERE key = ? AND channel = ?",
            (error[:500], retry_ns, 1 if retry_ns is None else 0, key, channel),
        )

    # requests made to each channel (robot rate limits survive a restart)

    def record_request(self, channel: str, now_ns: int) -> None:
        with self.db.transaction() as tx:
            tx.execute("INSERT INTO channel_send (channel, at_ns) VALUES (?, ?)", (channel, now_ns))
            tx.execute("DELETE FROM channel_send WHERE at_ns < ?", (now_ns - 3600 * 10**9,))

    def requests_since(self, channel: str, since_ns: int) -> int:
        rows = self.db.query(
            "SELECT COUNT(*) FROM channel_send WHERE channel = ? AND at_ns > ?",
            (channel, since_ns),
        )
        return int(rows[0][0])

    # evaluator bookkeeping

    def since_ns(self, now_ns: int) -> int:
        """When the evaluator first ran here (no-data rules count from it); set once."""
        self.db.execute(
            "INSERT INTO evaluator (name, value) VALUES ('since_ns', ?) ON CONFLICT DO NOTHING",
            (now_ns,),
        )
        rows = self.db.query("SELECT value FROM evaluator WHERE name = 'since_ns'")
        return int(rows[0][0])

    # -- rules managed through the API (alerts.yaml's are read-only there) -------------------

    def rules(self) -> list[Rule]:
        """The API's rules, in creation order. A row that no longer validates (a model change)
        is skipped, not fatal: the evaluator keeps running the others."""
        out = []
        order = "rowid" if self.db.backend == "sqlite" else "seq"  # creation order
        for (body,) in self.db.query(f"SELECT body FROM rule ORDER BY {order}"):
            try:
                out.append(Rule.model_validate_json(body))
            except ValueError:
                continue
        return out

    def rule_meta(self, rule_id: str) -> tuple[int, str] | None:
        """(updated_ns, updated_by) of an API rule."""
        rows = self.db.query("SELECT updated_ns, updated_by FROM rule WHERE id = ?", (rule_id,))
        return (int(rows[0][0]), str(rows[0][1])) if rows else None

    def put_rule(self, rule: Rule, by: str, now_ns: int, *, create: bool) -> bool:
        """Insert (`create`) or replace an API rule; False when it already exists (create) or
        does not (update)."""
        body = rule.model_dump_json()
        if create:
            changed = self.db.execute(
                "INSERT INTO rule (id, city, body, updated_ns, updated_by)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (rule.id, rule.scope.city, body, now_ns, by),
            )
        else:
            changed = self.db.execute(
                "UPDATE rule SET city = ?, body = ?, updated_ns = ?, updated_by = ? WHERE id = ?",
                (rule.scope.city, body, now_ns, by, rule.id),
            )
        return changed == 1

    def delete_rule(self, rule_id: str) -> bool:
        return self.db.execute("DELETE FROM rule WHERE id = ?", (rule_id,)) == 1
