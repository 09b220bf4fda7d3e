"""`StateDb`: one small interface over an SQLite file or a PostgreSQL database.

Statements use `?` placeholders (rewritten to psycopg's `%s` for PostgreSQL) and SQL both
engines accept. Each call is its own transaction unless made inside `transaction()`. Both
implementations serialise their one connection with a lock (the stores are called from the
event loop and, for alerts, from worker threads); a PostgreSQL connection that broke (server
restart, network) is reopened on the next call.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Protocol, Self

import psycopg

from peakline_api.errors import Internal

Backend = Literal["sqlite", "postgresql"]


def private_file(path: Path | str) -> None:
    """Create `path` (an SQLite database: keys, ledger, retrofits) readable by its owner only
    (0600, whatever the umask), and tighten an existing one."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(path, 0o600)


class StateError(Internal):
    """The state database cannot be opened, read or written."""


class StateConflict(StateError):
    """A write broke a uniqueness rule (a duplicate id or idempotency key)."""


class Tx(Protocol):
    """Statements inside one transaction."""

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        ...


class StateDb(Protocol):
    backend: Backend

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int: ...

    def query_named(
        self, sql: str, args: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """A read with its column names (exports)."""
        ...

    def transaction(self) -> Any:
        """`with db.transaction() as tx:` one transaction holding the write lock (SQLite:
        BEGIN IMMEDIATE) or PostgreSQL's READ COMMITTED; commits on leaving, rolls back on
        an exception."""
        ...

    def close(self) -> None: ...


class _SqliteTx:
    def __init__(self, db: sqlite3.Connection, where: str) -> None:
        self._db, self._where = db, where

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, args).fetchall()

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self._db.execute(sql, args).rowcount


@contextmanager
def _sqlite_errors(where: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise StateConflict(f"{where}: {exc}") from exc
    except sqlite3.Error as exc:
        raise StateError(f"{where}: {exc}") from exc


OPEN_TIMEOUT_S = 10.0  # SQLite's busy timeout, and how long opening retries a locked file


class SqliteState:
    """An owner-only (0600) SQLite file, WAL, synchronous=FULL, `schema` run on open."""

    backend: Backend = "sqlite"

    def __init__(self, path: Path | str, schema: str) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                private_file(self.path)
            self._db = sqlite3.connect(
                self.path, timeout=OPEN_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            self._set_up(schema)
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"{self.path}: {exc}") from exc

    def _set_up(self, schema: str) -> None:
        """WAL, synchronous=FULL and the schema, retried while another process or thread
        opening the same file holds it: switching to WAL and a schema's first write take
        locks for which SQLite answers "database is locked" at once, without its busy
        timeout (replicas and API workers starting together on one state file)."""
        deadline = time.monotonic() + OPEN_TIMEOUT_S
        delay = 0.01
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=FULL")
                self._db.executescript(schema)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                    raise
                if self._db.in_transaction:
                    self._db.rollback()
            time.sleep(delay)  # backoff between attempts at a lock, not a wait on a condition
            delay = min(0.2, delay * 2)

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, _sqlite_errors(self.path):
            return self._db.execute(sql, args).fetchall()

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        with self._lock, _sqlite_errors(self.path):
            return self._db.execute(sql, args).rowcount

    def query_named(
        self, sql: str, args: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._lock, _sqlite_errors(self.path):
            cursor = self._db.execute(sql, args)
            return [c[0] for c in cursor.description], cursor.fetchall()

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock, _sqlite_errors(self.path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield _SqliteTx(self._db, self.path)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _pg(sql: str) -> bytes:
    # our statements hold no literal '?'; psycopg wants %s (bytes: the text is ours, built
    # from constants and placeholders, never from values)
    return sql.replace("%", "%%").replace("?", "%s").encode()


class _PgTx:
    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._conn = conn

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(_pg(sql), args).fetchall()

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        return self._conn.execute(_pg(sql), args).rowcount


class PostgresState:
    """One PostgreSQL connection (autocommit outside `transaction()`), reopened when broken.

    `open_postgres` migrates the schema first; the stores never create tables here."""

    backend: Backend = "postgresql"

    def __init__(self, url: str, password: str | None = None) -> None:
        self.url = url
        self._password = password
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[tuple[Any, ...]] | None = None
        self.where = _redacted(url)

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                # a password from a file goes in as a connection parameter, never the URL
                self._conn = psycopg.connect(
                    self.url, autocommit=True, connect_timeout=10, password=self._password
                )
            except psycopg.Error as exc:
                raise StateError(f"{self.where}: {exc}") from exc
        return self._conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except psycopg.errors.IntegrityError as exc:
            raise StateConflict(f"{self.where}: {exc}") from exc
        except psycopg.Error as exc:
            raise StateError(f"{self.where}: {exc}") from exc

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read; retried once on a new connection when the old one turns out broken (a
        server restart, a terminated backend): reading twice is harmless."""
        with self._lock, self._errors():
            try:
                return self.connect().execute(_pg(sql), args).fetchall()
            except psycopg.OperationalError:
                if self._conn is None or not self._conn.broken:
                    raise
            return self.connect().execute(_pg(sql), args).fetchall()

    def query_named(
        self, sql: str, args: Sequence[Any] = ()
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self._lock, self._errors():
            cursor = self.connect().execute(_pg(sql), args)
            return [c.name for c in cursor.description or ()], cursor.fetchall()

    def execute(self, sql: str, args: Sequence[Any] = ()) -> int:
        """A write, never retried here (it may have committed before the connection broke);
        the next call reconnects."""
        with self._lock, self._errors():
            return self.connect().execute(_pg(sql), args).rowcount

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        with self._lock, self._errors():
            conn = self.connect()
            with conn.transaction():
                yield _PgTx(conn)

    def migrate(self) -> list[int]:
        """Bring the schema up to date (migrations.py); the versions applied now."""
        from peakline_api.statedb.migrations import migrate

        with self._lock, self._errors():
            return migrate(self.connect())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _redacted(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    scheme, sep, rest = url.partition("://")
    login, at, host = rest.rpartition("@")
    if not at:
        return url
    return f"{scheme}{sep}{login.partition(':')[0]}@{host}"


def open_postgres(url: str, password_file: Path | None = None) -> PostgresState:
    """Connect to `postgresql://...` (the password from `password_file` when given, kept out
    of the URL, the environment and `ps`) and bring the schema up to date."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise StateError(f"state URL {_redacted(url)!r}: expected postgresql://...")
    password = None
    if password_file is not None:
        try:
            password = password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise StateError(f"state password file {password_file}: {exc}") from exc
    db = PostgresState(url, password)
    try:
        db.migrate()
    except BaseException:
        db.close()
        raise
    return db
