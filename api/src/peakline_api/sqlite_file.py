"""`SqliteFile`: the API's own small SQLite databases (retrofits, refrigerant service records,
alert incidents), each an owner-only file (0600), WAL, synchronous=FULL, schema created on
open. A subclass sets `schema`."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from peakline_api.keys import private_file


class SqliteFile:
    """`with Store(path) as store:` then `store.db`."""

    schema: ClassVar[str] = ""
    any_thread: ClassVar[bool] = False
    """True: the connection may be used from a worker thread (the store serialises access)."""

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> Self:
        if self._path != ":memory:":
            private_file(self._path)
        self._db = sqlite3.connect(self._path, timeout=10.0, check_same_thread=not self.any_thread)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(self.schema)
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError(f"{type(self).__name__} used outside its `with` block")
        return self._db
