"""The embedded store: the storage schema in one SQLite file (WAL), same contract as InfluxDB.

Layout: `series(id, measurement, tags)` holds each series once (tags as canonical JSON);
`samples(series_id, field, ts, v)` holds one value per field, keyed by
(series_id, field, ts), so a re-delivered row overwrites itself and a row that sets a subset
of fields merges into the existing point, as InfluxDB does. Booleans are stored as 0/1.

Writes run on one dedicated thread with its own connection, reads on another, so the API
(reader) and ingest (writer) can share one store in one process without blocking each other
(WAL lets readers see committed data while a write is in progress).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from peakline_core.storage import (
    Aggregate,
    Row,
    RowBlock,
    Series,
    SeriesQuery,
    StoreRejected,
    StoreUnavailable,
    Totals,
    TotalsQuery,
)
from peakline_core.storage.schema import MEASUREMENTS, SERIES_TAGS

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    tags TEXT NOT NULL,
    UNIQUE (measurement, tags)
);
CREATE TABLE IF NOT EXISTS samples (
    series_id INTEGER NOT NULL,
    field TEXT NOT NULL,
    ts INTEGER NOT NULL,
    v,
    PRIMARY KEY (series_id, field, ts)
) WITHOUT ROWID;
"""
_AGGREGATE_SQL = {
    Aggregate.MEAN: "AVG(v)",
    Aggregate.MIN: "MIN(v)",
    Aggregate.MAX: "MAX(v)",
    Aggregate.SUM: "SUM(v)",
    Aggregate.COUNT: "COUNT(v)",
}
_CHUNK = 500  # series ids per IN (...) list
T = TypeVar("T")


def _canonical(tags: Mapping[str, str]) -> str:
    return json.dumps(dict(sorted(tags.items())), separators=(",", ":"), ensure_ascii=False)


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _plain(value: Any) -> Any:
    """SQLite has no bool; numpy scalars become Python values."""
    if isinstance(value, np.generic):
        value = value.item()
    return int(value) if isinstance(value, bool) else value


class SqliteStore:
    """Store over one SQLite file; `SqliteStore("/var/lib/peakline/store.db")`.

    Opening is lazy (on the first call), so constructing it does no I/O. Call `aclose()`.
    """

    def __init__(self, path: str | Path, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._writer_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-store-writer")
        self._reader_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-store-reader")
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._series_ids: dict[tuple[str, str], int] = {}  # writer thread only
        self._series: dict[int, tuple[str, dict[str, str]]] = {}  # reader thread only
        self._closed = False

    # -- connections (each used only on its own thread) -------------------------------------

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process kills
        conn.executescript(_SCHEMA)
        return conn

    def _writer_conn(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = self._connect()
        return self._writer

    def _reader_conn(self) -> sqlite3.Connection:
        if self._reader is None:
            self._reader = self._connect()
        return self._reader

    async def _run(self, pool: ThreadPoolExecutor, fn: Any, *args: Any) -> Any:
        if self._closed:
            raise StoreUnavailable("store is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)
        except sqlite3.IntegrityError as exc:
            raise StoreRejected(f"sqlite rejected the data: {exc}") from None
        except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
            raise StoreUnavailable(f"sqlite: {exc}", retry_after_s=1.0) from None

    # -- writes ------------------------------------------------------------------------------

    def _series_id(self, conn: sqlite3.Connection, measurement: str, tags: str) -> int:
        key = (measurement, tags)
        sid = self._series_ids.get(key)
        if sid is None:
            conn.execute(
                "INSERT OR IGNORE INTO series (measurement, tags) VALUES (?, ?)",
                (measurement, tags),
            )
            (sid,) = conn.execute(
                "SELECT id FROM series WHERE measurement = ? AND tags = ?", key
            ).fetchone()
            self._series_ids[key] = sid
        return int(sid)

    def _write_samples(self, samples: Iterable[tuple[int, str, int, Any]]) -> None:
        conn = self._writer_conn()
        with conn:
            conn.executemany(
                "INSERT OR REPLACE INTO samples (series_id, field, ts, v) VALUES (?, ?, ?, ?)",
                samples,
            )

    def _write_rows(self, rows: Sequence[Row]) -> None:
        conn = self._writer_conn()
        samples: list[tuple[int, str, int, Any]] = []
        for row in rows:
            if row.measurement not in MEASUREMENTS:
                raise sqlite3.IntegrityError(f"unknown measurement {row.measurement!r}")
            sid = self._series_id(conn, row.measurement, _canonical(row.tags))
            for field, value in row.fields.items():
                if isinstance(value, float) and value != value:
                    continue  # NaN: field absent on this row
                samples.append((sid, field, int(row.ts), _plain(value)))
        self._write_samples(samples)

    def _write_blocks(self, blocks: Sequence[RowBlock]) -> None:
        conn = self._writer_conn()
        samples: list[tuple[int, str, int, Any]] = []
        for block in blocks:
            if block.measurement not in MEASUREMENTS:
                raise sqlite3.IntegrityError(f"unknown measurement {block.measurement!r}")
            ids = np.array(
                [self._series_id(conn, block.measurement, _canonical(t)) for t in block.series],
                dtype=np.int64,
            )[block.series_index]
            for field, column in block.fields.items():
                present = (
                    ~np.isnan(column.astype(np.float64))
                    if column.dtype.kind == "f"
                    else np.array([v is not None for v in column.tolist()], dtype=bool)
                )
                sel = np.flatnonzero(present)
                values = column[sel].tolist()
                if column.dtype.kind == "b":
                    values = [int(v) for v in values]
                samples.extend(
                    zip(
                        ids[sel].tolist(),
                        [field] * len(sel),
                        block.ts[sel].tolist(),
                        values,
                        strict=True,
                    )
                )
        self._write_samples(samples)

    async def write(self, rows: Sequence[Row]) -> None:
        """Store rows (idempotent: same series, field and UTC ns timestamp overwrite)."""
        if rows:
            await self._run(self._writer_pool, self._write_rows, rows)

    async def write_blocks(self, blocks: Sequence[RowBlock]) -> None:
        """Store columnar blocks (the ingest hot path); same semantics as `write`."""
        if blocks:
            await self._run(self._writer_pool, self._write_blocks, blocks)

    # -- reads -------------------------------------------------------------------------------

    def _refresh_series(self, conn: sqlite3.Connection) -> None:
        known = max(self._series, default=0)
        for sid, measurement, tags in conn.execute(
            "SELECT id, measurement, tags FROM series WHERE id > ? ORDER BY id", (known,)
        ):
            self._series[sid] = (measurement, json.loads(tags))

    def _matching(
        self, conn: sqlite3.Connection, measurement: str, where: Mapping[str, Sequence[str]]
    ) -> list[tuple[tuple[str, ...], int, dict[str, str]]]:
        """(sort key, id, tags) of series matching `where`, in tag order."""
        self._refresh_series(conn)
        allowed = {k: set(v) for k, v in where.items()}
        keys = SERIES_TAGS.get(measurement, ())
        out = []
        for sid, (m, tags) in self._series.items():
            if m == measurement and all(tags.get(k) in vs for k, vs in allowed.items()):
                out.append((tuple(tags.get(k, "") for k in keys), sid, tags))
        out.sort()
        return out

    def _query(self, q: SeriesQuery) -> list[Series]:
        conn = self._reader_conn()
        matched = self._matching(conn, q.measurement, q.where)
        points: dict[int, list[tuple[int, Any]]] = {sid: [] for _, sid, _ in matched}
        for chunk in _chunks([sid for _, sid, _ in matched]):
            marks = ",".join("?" * len(chunk))
            args = [q.field, q.start_ns, q.end_ns, *chunk]
            base = f"FROM samples WHERE field = ? AND ts >= ? AND ts < ? AND series_id IN ({marks})"
            if q.every_ns is None:
                sql = f"SELECT series_id, ts, v {base} ORDER BY series_id, ts"
            elif q.aggregate is Aggregate.LAST:
                # SQLite: a bare column next to MAX() comes from the row holding the maximum.
                sql = (
                    f"SELECT series_id, ts - ts % {int(q.every_ns)} AS b, v, MAX(ts) {base}"
                    " GROUP BY series_id, b ORDER BY series_id, b"
                )
            else:
                sql = (
                    f"SELECT series_id, ts - ts % {int(q.every_ns)} AS b,"
                    f" {_AGGREGATE_SQL[q.aggregate]} {base} GROUP BY series_id, b"
                    " ORDER BY series_id, b"
                )
            for sid, t, v, *_ in conn.execute(sql, args):
                points[sid].append((t, v))
        out = []
        for _, sid, tags in matched:
            got = points[sid]
            if not got:
                continue
            if q.limit is not None:
                got = got[: q.limit]
            out.append(Series(tags, [t for t, _ in got], [v for _, v in got]))
        return out

    def _latest(
        self, measurement: str, field: str, where: Mapping[str, Sequence[str]]
    ) -> list[Series]:
        conn = self._reader_conn()
        matched = self._matching(conn, measurement, where)
        newest: dict[int, tuple[int, Any]] = {}
        for chunk in _chunks([sid for _, sid, _ in matched]):
            marks = ",".join("?" * len(chunk))
            sql = (
                f"SELECT series_id, v, MAX(ts) FROM samples WHERE field = ?"
                f" AND series_id IN ({marks}) GROUP BY series_id"
            )
            for sid, v, t in conn.execute(sql, [field, *chunk]):
                newest[sid] = (t, v)
        return [
            Series(tags, [newest[sid][0]], [newest[sid][1]])
            for _, sid, tags in matched
            if sid in newest
        ]

    def _totals(self, q: TotalsQuery) -> list[Totals]:
        conn = self._reader_conn()
        matched = self._matching(conn, q.measurement, q.where)
        sums: dict[int, dict[str, float]] = {}
        fields = ",".join("?" * len(q.fields))
        for chunk in _chunks([sid for _, sid, _ in matched]):
            marks = ",".join("?" * len(chunk))
            sql = (
                f"SELECT series_id, field, SUM(v) FROM samples WHERE field IN ({fields})"
                f" AND ts >= ? AND ts < ? AND series_id IN ({marks})"
                " AND typeof(v) IN ('integer', 'real') GROUP BY series_id, field"
            )
            for sid, f, v in conn.execute(sql, [*q.fields, q.start_ns, q.end_ns, *chunk]):
                if v is not None:
                    sums.setdefault(sid, {})[f] = float(v)
        return [Totals(tags, sums[sid]) for _, sid, tags in matched if sid in sums]

    async def totals(self, query: TotalsQuery) -> list[Totals]:
        """Per series, the sum of each numeric field over [start_ns, end_ns)."""
        if any(not v for v in query.where.values()) or not query.fields:
            return []
        result: list[Totals] = await self._run(self._reader_pool, self._totals, query)
        return result

    async def query(self, query: SeriesQuery) -> list[Series]:
        """Raw points, or one aggregate per epoch-aligned bucket of `every_ns`, per series."""
        result: list[Series] = await self._run(self._reader_pool, self._query, query)
        return result

    async def latest(
        self, measurement: str, field: str, where: Mapping[str, Sequence[str]]
    ) -> list[Series]:
        """The newest value of `field` in each matching series."""
        result: list[Series] = await self._run(
            self._reader_pool, self._latest, measurement, field, where
        )
        return result

    async def ping(self) -> None:
        await self._run(self._reader_pool, lambda: self._reader_conn().execute("SELECT 1"))

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        for pool, attr in ((self._writer_pool, "_writer"), (self._reader_pool, "_reader")):
            await loop.run_in_executor(pool, self._close_conn, attr)
            pool.shutdown(wait=True)

    def _close_conn(self, attr: str) -> None:
        conn: sqlite3.Connection | None = getattr(self, attr)
        if conn is not None:
            conn.close()
            setattr(self, attr, None)
