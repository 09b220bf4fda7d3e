"""Durable executor state in the agent's state dir (SQLite): revert-after holds and the
outcomes of recent commands (so a redelivered command is acknowledged again, not re-executed).

A hold is written in the same transaction that records the command's outcome, before the ack
is published: if the agent dies mid-hold, it restores the previous value when it starts again.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from peakline_edge.errors import EdgeError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS holds (
    command_id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    point TEXT NOT NULL,
    previous TEXT NOT NULL,      -- JSON value to restore
    held TEXT NOT NULL,          -- JSON value the command wrote
    revert_at INTEGER NOT NULL   -- UTC ns
);
CREATE UNIQUE INDEX IF NOT EXISTS holds_point ON holds (device, point);
CREATE TABLE IF NOT EXISTS outcomes (
    command_id TEXT PRIMARY KEY,
    idem_key TEXT,
    ack BLOB NOT NULL,           -- the encoded CommandAck sent
    ts INTEGER NOT NULL          -- UTC ns
);
CREATE INDEX IF NOT EXISTS outcomes_key ON outcomes (idem_key);
CREATE INDEX IF NOT EXISTS outcomes_ts ON outcomes (ts);
"""


class HoldStoreError(EdgeError):
    """The executor's state file cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class Hold:
    """A point held at `held` until `revert_at` (UTC ns), then restored to `previous`."""

    command_id: str
    site: str
    device: str
    point: str
    previous: float | int | bool
    held: float | int | bool
    revert_at: int


class HoldStore:
    """SQLite file of holds and recent outcomes. Use `with HoldStore(path) as holds:`."""

    def __init__(self, path: Path, keep_outcomes_s: float = 7 * 86400) -> None:
        self.path = path
        self.keep_ns = int(keep_outcomes_s * 1e9)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise HoldStoreError(f"{path}: {exc}") from exc

    def __enter__(self) -> HoldStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    # -- holds
    def holds(self) -> list[Hold]:
        rows = self._db.execute(
            "SELECT command_id, site, device, point, previous, held, revert_at FROM holds "
            "ORDER BY revert_at"
        ).fetchall()
        return [
            Hold(r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5]), r[6]) for r in rows
        ]

    def hold_on(self, device: str, point: str) -> Hold | None:
        return next((h for h in self.holds() if h.device == device and h.point == point), None)

    def put_hold(self, hold: Hold) -> None:
        """Add `hold`, replacing any other hold on the same point."""
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "DELETE FROM holds WHERE device = ? AND point = ?", (hold.device, hold.point)
                )
                self._db.execute(
                    "INSERT OR REPLACE INTO holds VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        hold.command_id,
                        hold.site,
                        hold.device,
                        hold.point,
                        json.dumps(hold.previous),
                        json.dumps(hold.held),
                        hold.revert_at,
                    ),
                )
        except sqlite3.Error as exc:
            raise HoldStoreError(f"{self.path}: {exc}") from exc

    def drop_hold(self, command_id: str) -> None:
        self._execute("DELETE FROM holds WHERE command_id = ?", (command_id,))

    def drop_holds_on(self, device: str, point: str) -> None:
        self._execute("DELETE FROM holds WHERE device = ? AND point = ?", (device, point))

    # -- outcomes (idempotency)
    def outcome(self, command_id: str) -> bytes | None:
        """The ack already sent for this command id, if any. (Idempotency keys are resolved
        by the API, per issuer; the edge only sees ids, which are unique.)"""
        row = self._db.execute(
            "SELECT ack FROM outcomes WHERE command_id = ?", (command_id,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def put_outcome(self, command_id: str, idem_key: str | None, ack: bytes, now_ns: int) -> None:
        self._execute(
            "INSERT OR REPLACE INTO outcomes VALUES (?, ?, ?, ?)",
            (command_id, idem_key, ack, now_ns),
        )
        self._execute("DELETE FROM outcomes WHERE ts < ?", (now_ns - self.keep_ns,))

    def _execute(self, sql: str, args: tuple[object, ...]) -> None:
        try:
            self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise HoldStoreError(f"{self.path}: {exc}") from exc
