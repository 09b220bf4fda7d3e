"""`SqliteFile`: the base of the API's small stores (retrofits, refrigerant service records,
alert incidents). Given a path, the store is its own owner-only SQLite file (0600), WAL,
synchronous=FULL, `schema` created on open, closed on exit; given a `StateDb` (the shared
PostgreSQL state, already migrated), it uses that and leaves it open. A subclass sets
`schema`."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from peakline_api.statedb import SqliteState, StateDb


class SqliteFile:
    """`with Store(path_or_state_db) as store:` then `store.db`."""

    schema: ClassVar[str] = ""

    def __init__(self, where: Path | str | StateDb) -> None:
        self._where = where
        self._db: StateDb | None = None

    def __enter__(self) -> Self:
        if isinstance(self._where, Path | str):
            self._db = SqliteState(self._where, self.schema)
        else:
            self._db = self._where
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._db is not None and isinstance(self._where, Path | str):
            self._db.close()
        self._db = None

    @property
    def db(self) -> StateDb:
        if self._db is None:
            raise RuntimeError(f"{type(self).__name__} used outside its `with` block")
        return self._db
