"""The command audit ledger: every command, who sent it, every state change and read-back.

Durable in SQLite (stdlib sqlite3, WAL, synchronous=FULL) by default: `sqlite:///path.db`;
or in the shared PostgreSQL state (`ApiSettings.state_url`, a `StateDb`), the same SQL.

Every replica follows the broker, so every replica hears every ack, and a sweeper may expire
a command while its ack arrives: a state change is one conditional UPDATE (`WHERE state IN`
the states it may leave), so of two replicas applying the same report exactly one moves the
command, and a command never expires twice.

States move forward only: accepted -> sent -> applied | rejected | failed | expired, and
applied -> reverted. An outcome reported by the edge wins over the API's own `expired` guess
(the edge knows what the device did). Every report, even one that changes nothing, is kept
in `command_events`, so the ledger says exactly what was heard and when.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peakline_api.errors import Internal
from peakline_api.statedb import SqliteState, StateConflict, StateDb, StateError
from peakline_api.statedb.lease import LEASE_TABLE
from peakline_core.wire import Command, CommandState

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS commands (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL,
    value TEXT NOT NULL,             -- JSON
    issuer TEXT NOT NULL,
    issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,  -- UTC ns
    idempotency_key TEXT, dry_run INTEGER NOT NULL, revert_after_s REAL, origin TEXT,
    state TEXT NOT NULL, reason TEXT,
    readback TEXT, previous TEXT,    -- JSON
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS commands_idem ON commands (issuer, idempotency_key);
CREATE INDEX IF NOT EXISTS commands_site ON commands (site, issued_at);
CREATE INDEX IF NOT EXISTS commands_state ON commands (state, expires_at);
CREATE TABLE IF NOT EXISTS command_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    command_id TEXT NOT NULL,
    ts INTEGER NOT NULL, state TEXT NOT NULL, reason TEXT, readback TEXT,
    source TEXT NOT NULL,            -- api, edge:<agent>, sweeper
    applied INTEGER NOT NULL         -- 1 when it changed the command's state
);
CREATE INDEX IF NOT EXISTS command_events_id ON command_events (command_id, seq);
CREATE TABLE IF NOT EXISTS dr_events (
    id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, body TEXT NOT NULL
);
"""
    + LEASE_TABLE
)

_FINAL = {s for s in CommandState if s.final}


class LedgerError(Internal):
    """The ledger database cannot be opened or written."""


def allowed(current: CommandState, new: CommandState, source: str) -> bool:
    """Whether a report of `new` moves a command in `current` (the state machine)."""
    if current is new:
        return False
    if current is CommandState.ACCEPTED:
        return True
    if current is CommandState.SENT:
        return new is not CommandState.ACCEPTED
    if current is CommandState.APPLIED:
        return new is CommandState.REVERTED
    if current is CommandState.EXPIRED:  # the API's guess; the edge knows better
        return source.startswith("edge") and new in _FINAL
    return False


def leaving(new: CommandState, source: str) -> list[str]:
    """The states a report of `new` from `source` may move a command out of."""
    return [s.value for s in CommandState if allowed(s, new, source)]


@dataclass(frozen=True, slots=True)
class LedgerEvent:
    ts: int
    state: str
    reason: str | None
    readback: Any
    source: str
    applied: bool


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    id: str
    site: str
    device: str
    point: str
    value: Any
    issuer: str
    issued_at: int
    expires_at: int
    idempotency_key: str | None
    dry_run: bool
    revert_after_s: float | None
    origin: str | None
    state: CommandState
    reason: str | None
    readback: Any
    previous: Any
    updated_at: int
    history: tuple[LedgerEvent, ...] = field(default=())


_COLUMNS = (
    "id, site, device, point, value, issuer, issued_at, expires_at, idempotency_key, dry_run, "
    "revert_after_s, origin, state, reason, readback, previous, updated_at"
)


def _entry(row: Sequence[Any]) -> LedgerEntry:
    return LedgerEntry(
        row[0], row[1], row[2], row[3], json.loads(row[4]), row[5], row[6], row[7], row[8],
        bool(row[9]), row[10], row[11], CommandState(row[12]), row[13],
        None if row[14] is None else json.loads(row[14]),
        None if row[15] is None else json.loads(row[15]),
        row[16],
    )  # fmt: skip


def sqlite_path(url: str) -> Path:
    """`sqlite:///abs/path.db` or a bare path -> Path; other schemes raise LedgerError."""
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite://"))
    if "://" in url:
        raise LedgerError(
            f"ledger URL {url!r}: only sqlite:/// here; PostgreSQL is the whole API state's"
            " (--state-url, docs/api.md)"
        )
    return Path(url)


class CommandLedger:
    """The audit ledger. `with CommandLedger(url_or_state_db) as ledger:`; thread-safe, short
    transactions. A URL or path opens (and on exit closes) its own SQLite file; a `StateDb`
    is used as it is and left open."""

    def __init__(self, where: str | StateDb) -> None:
        self._owned = isinstance(where, str)
        try:
            if isinstance(where, str):
                self.db: StateDb = SqliteState(sqlite_path(where), _SCHEMA)
            else:
                self.db = where
        except StateError as exc:
            raise LedgerError(str(exc)) from exc

    def __enter__(self) -> CommandLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owned:
            self.db.close()

    def _run(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            return self.db.query(sql, args)
        except StateError as exc:
            raise LedgerError(str(exc)) from exc

    def _write(self, sql: str, args: Sequence[Any] = ()) -> int:
        try:
            return self.db.execute(sql, args)
        except StateError as exc:
            raise LedgerError(str(exc)) from exc

    # -- commands
    def record(
        self, command: Command, state: CommandState, reason: str | None, now_ns: int
    ) -> LedgerEntry:
        """Record a new command in `state` (accepted, or rejected by the API)."""
        try:
            with self.db.transaction() as tx:
                tx.execute(
                    f"INSERT INTO commands ({_COLUMNS}) VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)",
                    (
                        command.id, command.site, command.device, command.point,
                        json.dumps(command.value), command.issuer, command.issued_at,
                        command.expires_at, command.idempotency_key, int(command.dry_run),
                        command.revert_after_s, command.origin, state.value, reason, now_ns,
                    ),
                )  # fmt: skip
                tx.execute(
                    "INSERT INTO command_events (command_id, ts, state, reason, readback, source,"
                    " applied) VALUES (?, ?, ?, ?, NULL, 'api', 1)",
                    (command.id, now_ns, state.value, reason),
                )
        except StateConflict as exc:
            raise LedgerError(f"duplicate command: {exc}") from exc
        except StateError as exc:
            raise LedgerError(str(exc)) from exc
        return self.get(command.id)

    def transition(
        self,
        command_id: str,
        state: CommandState,
        ts: int,
        *,
        source: str,
        reason: str | None = None,
        readback: Any = None,
        previous: Any = None,
    ) -> bool:
        """Record a report about a command; move its state when the state machine allows.
        Returns True when the state changed; unknown ids are recorded and return False.

        The move is conditional in SQL (`state IN` the states it may leave): when two replicas
        apply the same ack, or a sweeper expires a command while its ack lands, the database
        lets exactly one of them change the row; the other's report is kept as not applied."""
        rb = None if readback is None else json.dumps(readback)
        sources = leaving(state, source)
        try:
            with self.db.transaction() as tx:
                moved = bool(sources) and tx.execute(
                    "UPDATE commands SET state = ?, reason = ?,"
                    " readback = COALESCE(?, readback), previous = COALESCE(?, previous),"
                    f" updated_at = ? WHERE id = ? AND state IN ({','.join('?' * len(sources))})",
                    (
                        state.value, reason, rb,
                        None if previous is None else json.dumps(previous), ts, command_id,
                        *sources,
                    ),
                ) == 1  # fmt: skip
                tx.execute(
                    "INSERT INTO command_events (command_id, ts, state, reason, readback, source,"
                    " applied) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (command_id, ts, state.value, reason, rb, source, int(moved)),
                )
        except StateError as exc:
            raise LedgerError(str(exc)) from exc
        return moved

    def get(self, command_id: str, *, history: bool = False) -> LedgerEntry:
        """One command; raises KeyError when unknown."""
        rows = self._run(f"SELECT {_COLUMNS} FROM commands WHERE id = ?", (command_id,))
        if not rows:
            raise KeyError(command_id)
        entry = _entry(rows[0])
        if not history:
            return entry
        events = self._run(
            "SELECT ts, state, reason, readback, source, applied FROM command_events"
            " WHERE command_id = ? ORDER BY seq",
            (command_id,),
        )
        hist = tuple(
            LedgerEvent(
                e[0], e[1], e[2], None if e[3] is None else json.loads(e[3]), e[4], bool(e[5])
            )
            for e in events
        )
        return dataclasses.replace(entry, history=hist)

    def by_idempotency_key(self, issuer: str, key: str) -> LedgerEntry | None:
        rows = self._run(
            f"SELECT {_COLUMNS} FROM commands WHERE issuer = ? AND idempotency_key = ?",
            (issuer, key),
        )
        return _entry(rows[0]) if rows else None

    def search(
        self,
        *,
        sites: Sequence[str],
        devices: Sequence[str] = (),
        states: Sequence[str] = (),
        issuer: str | None = None,
        origin: str | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[LedgerEntry], int]:
        """Commands matching every given filter (newest first) and how many match in all."""
        where = [f"site IN ({','.join('?' * len(sites))})"]
        args: list[Any] = list(sites)
        for column, values in (("device", devices), ("state", states)):
            if values:
                where.append(f"{column} IN ({','.join('?' * len(values))})")
                args.extend(values)
        for clause, value in (
            ("issuer = ?", issuer),
            ("origin = ?", origin),
            ("issued_at >= ?", since_ns),
            ("issued_at <= ?", until_ns),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql_where = " AND ".join(where)
        total = self._run(f"SELECT COUNT(*) FROM commands WHERE {sql_where}", args)[0][0]
        rows = self._run(
            f"SELECT {_COLUMNS} FROM commands WHERE {sql_where}"
            " ORDER BY issued_at DESC, id LIMIT ? OFFSET ?",
            [*args, limit, offset],
        )
        return [_entry(r) for r in rows], int(total)

    def pending(self) -> list[LedgerEntry]:
        """Commands still accepted or sent (the sweeper's work list), oldest first."""
        rows = self._run(
            f"SELECT {_COLUMNS} FROM commands WHERE state IN ('accepted', 'sent')"
            " ORDER BY expires_at"
        )
        return [_entry(r) for r in rows]

    # -- demand-response events (JSON documents; the service owns their shape)
    def put_event(self, event_id: str, created_at: int, body: dict[str, Any]) -> None:
        self._write(
            "INSERT INTO dr_events (id, created_at, body) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at,"
            " body = excluded.body",
            (event_id, created_at, json.dumps(body)),
        )

    def event(self, event_id: str) -> dict[str, Any]:
        rows = self._run("SELECT body FROM dr_events WHERE id = ?", (event_id,))
        if not rows:
            raise KeyError(event_id)
        body: dict[str, Any] = json.loads(rows[0][0])
        return body

    def events(self) -> list[dict[str, Any]]:
        rows = self._run("SELECT body FROM dr_events ORDER BY created_at DESC")
        return [json.loads(r[0]) for r in rows]
