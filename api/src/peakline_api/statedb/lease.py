"""Leases: which replica runs a singleton job (command sweeper, DR scheduler, alert evaluator).

A lease is a row (name, holder, until_ns) in the state database, taken or renewed by one
conditional upsert: it succeeds when the row is absent, already ours, or run out. The holder
renews it on every pass of its job; when the holder dies, another replica takes it once
`until_ns` has passed. A row with an expiry (rather than a PostgreSQL advisory lock) works the
same on SQLite and PostgreSQL, does not tie the lease to one connection (a connection reopened
after a network blip keeps it; a hung process that still holds a connection loses it), and
bounds the takeover by the lease time. Clocks: `now_ns` is the caller's wall clock, so
replicas' clocks must agree to well within the lease time (NTP).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from peakline_api.statedb.database import StateDb

LEASE_TABLE = """
CREATE TABLE IF NOT EXISTS lease (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until_ns INTEGER NOT NULL
);
"""
"""The SQLite table (PostgreSQL's is in the migrations)."""


class Leases:
    def __init__(self, db: StateDb) -> None:
        self.db = db

    def hold(self, name: str, holder: str, now_ns: int, ttl_ns: int) -> bool:
        """Take or renew the lease `name` for `holder` until `now_ns + ttl_ns`, unless another
        holder's lease still runs; True when `holder` holds it now. One statement: the
        database's row lock (PostgreSQL) or write lock (SQLite) decides between two replicas
        asking at once."""
        changed = self.db.execute(
            "INSERT INTO lease (name, holder, until_ns) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
            " until_ns = excluded.until_ns"
            " WHERE lease.holder = excluded.holder OR lease.until_ns <= ?",
            (name, holder, now_ns + ttl_ns, now_ns),
        )
        return changed == 1

    def release(self, name: str, holder: str, now_ns: int) -> None:
        """End `holder`'s lease now (a clean shutdown): another replica takes it at once."""
        self.db.execute(
            "UPDATE lease SET until_ns = ? WHERE name = ? AND holder = ?", (now_ns, name, holder)
        )

    def holder(self, name: str) -> tuple[str, int] | None:
        """(holder, until_ns) of the lease, if it was ever taken."""
        rows = self.db.query("SELECT holder, until_ns FROM lease WHERE name = ?", (name,))
        return None if not rows else (str(rows[0][0]), int(rows[0][1]))
