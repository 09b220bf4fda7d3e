"""An archive's table members back into the API's state: SQLite files (`--state-dir`) or the
shared PostgreSQL (`--state-url`), through the one `StateDb` seam.

Ids are kept (a command's, a DR event's, an incident's, a notification's key), so the rows
refer to each other as they did; a counter nothing refers to (`command_events.seq`) is
assigned again by the target, in the archive's order. Rows come back as they were, except
live work a restore must not set going on the target (it is history, and the original system
may still be doing it): an unsent notification is restored dead, a command still waiting to
be published is restored expired, a DR event not yet started is restored cancelled; each with
`RESTORED_NOTE` as its reason.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from peakline_api.alerts.store import AlertStore
from peakline_api.archive.errors import ArchiveInvalid
from peakline_api.archive.tables import TABLES, Scope, TableMember, selection
from peakline_api.ledger import CommandLedger
from peakline_api.refrigerant_store import RefrigerantStore
from peakline_api.retrofit_store import RetrofitStore
from peakline_api.statedb import SqliteState, StateDb

RESTORED_NOTE: Final = "restored from an archive: not carried out again"
_SCHEMAS: Final[dict[str, Callable[[Path], Any]]] = {
    "ledger": lambda p: CommandLedger(str(p)),
    "alerts": AlertStore,
    "refrigerants": RefrigerantStore,
    "retrofits": RetrofitStore,
}
_BY_MEMBER: Final = {t.member: t for t in TABLES}


@dataclass
class StateTarget:
    """The opened state databases a restore writes, by `AppDatabases` attribute; SQLite files
    are created with their store's schema and closed by `close()`."""

    dbs: dict[str, StateDb]
    owned: list[StateDb]

    @classmethod
    def open(cls, where: dict[str, Path | StateDb | None]) -> StateTarget:
        dbs: dict[str, StateDb] = {}
        owned: list[StateDb] = []
        try:
            for database, place in where.items():
                if place is None:
                    continue
                if isinstance(place, Path):
                    with _SCHEMAS[database](place):  # creates the file (0600) and its schema
                        pass
                    db: StateDb = SqliteState(place, "")
                    owned.append(db)
                else:
                    db = place
                dbs[database] = db
        except BaseException:
            for db in owned:
                db.close()
            raise
        return cls(dbs, owned)

    def close(self) -> None:
        for db in self.owned:
            db.close()


def members_of(manifest: dict[str, Any]) -> list[TableMember]:
    """The archive's table members this version knows, parents first."""
    listed = manifest.get("tables") or {}
    unknown = set(listed) - set(_BY_MEMBER)
    if unknown:
        raise ArchiveInvalid(f"table members this version does not know: {sorted(unknown)}")
    for name, where in listed.items():
        t = _BY_MEMBER[name]
        if (where.get("database"), where.get("table")) != (t.database, t.table):
            raise ArchiveInvalid(f"{name}: not the {t.database} table {t.table}")
    return [t for t in TABLES if t.member in listed and t.member in manifest["members"]]


def city_rows(db: StateDb, table: TableMember, scope: Scope) -> list[dict[str, Any]]:
    """The target's rows of the city in the archive's selection."""
    sql, args = selection(table, scope)
    columns, rows = db.query_named(sql, args)
    named = [dict(zip(columns, row, strict=True)) for row in rows]
    return [r for r in named if table.keep is None or table.keep(r, scope)]


def occupied(target: StateTarget, tables: list[TableMember], scope: Scope) -> dict[str, int]:
    """member -> rows of the city the target already holds (members holding none left out)."""
    held = {}
    for t in tables:
        db = target.dbs.get(t.database)
        if db is not None and (n := len(city_rows(db, t, scope))):
            held[t.member] = n
    return held


def clear(target: StateTarget, tables: list[TableMember], scope: Scope) -> None:
    """Delete the city's rows of the archive's selection from the target. Every selection is
    read before anything is deleted (a command's selection reads the DR events)."""
    doomed = [
        (t, target.dbs[t.database], [tuple(r[k] for k in t.key) for r in city_rows(db, t, scope)])
        for t in tables
        if (db := target.dbs.get(t.database)) is not None
    ]
    for t, db, keys in reversed(doomed):
        where = " AND ".join(f"{k} = ?" for k in t.key)
        with db.transaction() as tx:
            for key in keys:
                tx.execute(f"DELETE FROM {t.table} WHERE {where}", key)


def columns(db: StateDb, table: str) -> set[str]:
    if db.backend == "sqlite":
        return {str(r[1]) for r in db.query(f"PRAGMA table_info({table})")}
    return {
        str(r[0])
        for r in db.query(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ?",
            [table],
        )
    }


def _rows(archive: zipfile.ZipFile, t: TableMember) -> Iterator[dict[str, Any]]:
    with archive.open(t.member) as raw:
        for n, line in enumerate(io.TextIOWrapper(raw, encoding="utf-8"), 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ArchiveInvalid(f"{t.member} line {n}: {exc}") from None
            if not isinstance(row, dict):
                raise ArchiveInvalid(f"{t.member} line {n}: not a JSON object")
            yield row


def settled(table: str, row: dict[str, Any], now_ns: int) -> dict[str, Any]:
    """The row as restored: as it was, unless it is live work the target would carry out."""
    if table == "outbox" and row.get("sent_ns") is None and not row.get("dead"):
        return {**row, "dead": 1, "last_error": RESTORED_NOTE}
    if table == "commands" and row.get("state") == "accepted":
        return {**row, "state": "expired", "reason": RESTORED_NOTE}
    if table == "dr_events":
        body = json.loads(row["body"])
        if body.get("state") == "scheduled":
            body.update(
                state="cancelled", cancelled_ns=now_ns, cancelled_by=RESTORED_NOTE, reverts=[]
            )
            return {**row, "body": json.dumps(body)}
    return row


def insert(target: StateTarget, archive: zipfile.ZipFile, t: TableMember, now_ns: int) -> int:
    """Insert the member's rows (a row whose id is already there is left as it is)."""
    db = target.dbs[t.database]
    known = columns(db, t.table)
    if not known:
        raise ArchiveInvalid(f"{t.member}: no table {t.table!r} in the {t.database} database")
    count = 0
    with db.transaction() as tx:
        for row in _rows(archive, t):
            if t.renumbered is not None:
                row.pop(t.renumbered, None)
            if not set(row) <= known:
                raise ArchiveInvalid(f"{t.member}: columns not in {t.table}: {set(row) - known}")
            row = settled(t.table, row, now_ns)
            cols = list(row)
            tx.execute(
                f"INSERT INTO {t.table} ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})"
                " ON CONFLICT DO NOTHING",
                [row[c] for c in cols],
            )
            count += 1
    return count
