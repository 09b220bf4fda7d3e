"""The on-disk spool: every telemetry batch is written here before it is published, and
deleted only after the broker acknowledged it (QoS 1 PUBACK).

One SQLite database in WAL mode, one row per batch in `seq` order. `seq` is the per-agent
sequence number of TelemetryBatch; AUTOINCREMENT keeps it rising across restarts even after
every row was deleted. The spool is bounded by bytes and by age; when over a bound it drops the
oldest batches that are not in flight, and counts the dropped batches and readings in the
`meta` table so the count survives restarts (see docs/edge.md, "The spool guarantee").

`Spool` is synchronous and owned by one thread; `AsyncSpool` runs it on a single worker thread
so the event loop never waits on the SD card.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from peakline_core.wire import Reading, TelemetryBatch, encode
from peakline_edge.errors import SpoolError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batch (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    created INTEGER NOT NULL,   -- UTC ns when spooled
    oldest INTEGER NOT NULL,    -- UTC ns of the batch's oldest reading
    readings INTEGER NOT NULL,
    payload BLOB NOT NULL       -- the encoded TelemetryBatch, as published
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PendingBatch:
    """Readings of one device from one poll (or one MQTT message), not yet spooled."""

    site: str
    device: str
    readings: tuple[Reading, ...]


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    seq: int
    site: str
    device: str
    readings: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class SpoolStats:
    batches: int
    readings: int
    bytes: int
    oldest_ns: int | None  # UTC ns of the oldest spooled reading
    dropped_batches: int  # since the spool was created (persisted)
    dropped_readings: int


@dataclass(frozen=True, slots=True)
class Dropped:
    batches: int
    readings: int
    reason: str  # "bytes" or "age"


class Spool:
    """Synchronous spool; use from one thread only (AsyncSpool does that)."""

    def __init__(
        self,
        path: Path,
        agent: str,
        *,
        max_bytes: int,
        max_age_s: float,
        synchronous: str = "normal",
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.agent = agent
        self.max_bytes = max_bytes
        self.max_age_ns = int(max_age_s * 1e9)
        self._clock = clock_ns
        self._inflight: set[int] = set()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
            self._db.executescript(_SCHEMA)
            row = self._db.execute(
                "SELECT coalesce(sum(length(payload)), 0), count(*), coalesce(sum(readings), 0)"
                " FROM batch"
            ).fetchone()
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open spool {path}: {exc}") from exc
        self._bytes, self._batches, self._readings = int(row[0]), int(row[1]), int(row[2])
        seq = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'batch'").fetchone()
        self._next_seq = (int(seq[0]) if seq else 0) + 1

    def close(self) -> None:
        self._db.close()

    @property
    def pending_readings(self) -> int:
        return self._readings

    def append(self, batches: Sequence[PendingBatch]) -> list[Dropped]:
        """Spool batches in one transaction (one fsync at most); returns what the bounds dropped."""
        now = self._clock()
        rows = []
        for b in batches:
            seq = self._next_seq
            self._next_seq += 1
            payload = encode(
                TelemetryBatch(
                    agent=self.agent,
                    site=b.site,
                    device=b.device,
                    seq=seq,
                    sent=now,
                    readings=list(b.readings),
                )
            )
            oldest = min(r.ts for r in b.readings)
            rows.append((seq, b.site, b.device, now, oldest, len(b.readings), payload))
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT INTO batch VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self._bytes += sum(len(r[6]) for r in rows)
            self._batches += len(rows)
            self._readings += sum(r[5] for r in rows)
            dropped = self._enforce_bounds(now)
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise SpoolError(f"spool write failed: {exc}") from exc
        return dropped

    def expire(self) -> list[Dropped]:
        """Apply the age bound now (called periodically, also when nothing new arrives)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            dropped = self._enforce_bounds(self._clock())
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise SpoolError(f"spool expiry failed: {exc}") from exc
        return dropped

    def peek(self, limit: int) -> list[SpooledBatch]:
        """The oldest batches not already in flight, marked in flight until ack() or release()."""
        placeholders = ",".join("?" * len(self._inflight))
        query = "SELECT seq, site, device, readings, payload FROM batch"
        if self._inflight:
            query += f" WHERE seq NOT IN ({placeholders})"
        query += " ORDER BY seq LIMIT ?"
        rows = self._db.execute(query, (*self._inflight, limit)).fetchall()
        out = [SpooledBatch(int(r[0]), r[1], r[2], int(r[3]), bytes(r[4])) for r in rows]
        self._inflight.update(b.seq for b in out)
        return out

    def release(self, seqs: Sequence[int]) -> None:
        """Give batches back unacknowledged (publish failed): they are sent again later."""
        self._inflight.difference_update(seqs)

    def ack(self, seqs: Sequence[int]) -> None:
        """Delete acknowledged batches (one transaction)."""
        if not seqs:
            return
        marks = ",".join("?" * len(seqs))
        try:
            self._db.execute("BEGIN IMMEDIATE")
            gone = self._db.execute(
                "SELECT coalesce(sum(length(payload)), 0), count(*), coalesce(sum(readings), 0)"
                f" FROM batch WHERE seq IN ({marks})",
                tuple(seqs),
            ).fetchone()
            self._db.execute(f"DELETE FROM batch WHERE seq IN ({marks})", tuple(seqs))
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise SpoolError(f"spool delete failed: {exc}") from exc
        self._bytes -= int(gone[0])
        self._batches -= int(gone[1])
        self._readings -= int(gone[2])
        self._inflight.difference_update(seqs)

    def stats(self) -> SpoolStats:
        # the first row holds (all but always) the oldest reading: no scan of a large backlog
        first = self._db.execute("SELECT oldest FROM batch ORDER BY seq LIMIT 1").fetchone()
        oldest = first[0] if first else None
        return SpoolStats(
            batches=self._batches,
            readings=self._readings,
            bytes=self._bytes,
            oldest_ns=None if oldest is None else int(oldest),
            dropped_batches=self._meta("dropped_batches"),
            dropped_readings=self._meta("dropped_readings"),
        )

    def _meta(self, key: str) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else 0

    def _enforce_bounds(self, now: int) -> list[Dropped]:
        """Inside a transaction: drop the oldest batches not in flight until within bounds."""
        dropped = []
        # rows are in seq order, which is spool-time order: stop at the first young row
        # instead of scanning a large backlog on every write
        cutoff = now - self.max_age_ns
        victims = []
        cursor = self._db.execute(
            "SELECT seq, length(payload), readings, created FROM batch ORDER BY seq"
        )
        for row in cursor:
            if row[3] >= cutoff:
                break
            if row[0] not in self._inflight:
                victims.append(row[:3])
        cursor.close()
        if victims:
            dropped.append(self._drop(victims, "age"))
        if self._bytes > self.max_bytes:
            victims = []
            excess = self._bytes - self.max_bytes
            cursor = self._db.execute(
                "SELECT seq, length(payload), readings FROM batch ORDER BY seq"
            )
            for row in cursor:
                if excess <= 0:
                    break
                if row[0] in self._inflight:
                    continue
                victims.append(row)
                excess -= int(row[1])
            cursor.close()
            if victims:
                dropped.append(self._drop(victims, "bytes"))
        return dropped

    def _drop(self, victims: list[tuple[int, int, int]], reason: str) -> Dropped:
        seqs = [(int(v[0]),) for v in victims]
        self._db.executemany("DELETE FROM batch WHERE seq = ?", seqs)
        n_batches, n_readings = len(victims), sum(int(v[2]) for v in victims)
        self._bytes -= sum(int(v[1]) for v in victims)
        self._batches -= n_batches
        self._readings -= n_readings
        for key, n in (("dropped_batches", n_batches), ("dropped_readings", n_readings)):
            self._db.execute(
                "INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + ?",
                (key, n, n),
            )
        return Dropped(n_batches, n_readings, reason)

    def _rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # no transaction was open: nothing to undo


class AsyncSpool:
    """The spool on one dedicated worker thread: every call is serialized, none blocks the loop."""

    def __init__(self, spool: Spool, full_at_readings: int = 500) -> None:
        self.spool = spool
        self.full_at_readings = full_at_readings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self.changed = asyncio.Event()  # set on append; the uplink clears it when it wakes
        self.full = asyncio.Event()  # set when a full uplink batch is waiting

    @property
    def pending_readings(self) -> int:
        """Readings spooled and not yet acknowledged (a plain int read: no thread hop)."""
        return self.spool.pending_readings

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def append(self, batches: Sequence[PendingBatch]) -> list[Dropped]:
        dropped = await self._run(lambda: self.spool.append(batches))
        self.changed.set()
        if self.spool.pending_readings >= self.full_at_readings:
            self.full.set()
        return dropped

    async def expire(self) -> list[Dropped]:
        return await self._run(self.spool.expire)

    async def peek(self, limit: int) -> list[SpooledBatch]:
        return await self._run(lambda: self.spool.peek(limit))

    async def ack(self, seqs: Sequence[int]) -> None:
        await self._run(lambda: self.spool.ack(seqs))
        if self.spool.pending_readings < self.full_at_readings:
            self.full.clear()

    async def release(self, seqs: Sequence[int]) -> None:
        await self._run(lambda: self.spool.release(seqs))

    async def stats(self) -> SpoolStats:
        return await self._run(self.spool.stats)

    async def aclose(self) -> None:
        await self._run(self.spool.close)
        self._executor.shutdown(wait=True)
