"""The API's state on either backend, for contract tests run over both: an SQLite file in the
test's directory, or a fresh database on the session's PostgreSQL (tests/conftest.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from peakline_api.statedb import PostgresState, StateDb, open_postgres


@dataclass
class StateBackend:
    """`where(name)`: what a store is opened on. SQLite: the path of file `name` (each store
    opens its own connection). PostgreSQL: a new connection to the test's database, migrated,
    closed at teardown; two calls are two replicas' connections to the same state."""

    kind: str
    tmp_path: Path
    url: str | None = None
    _open: list[PostgresState] = field(default_factory=list)

    def where(self, name: str) -> str | StateDb:
        if self.url is None:
            return str(self.tmp_path / name)
        db = open_postgres(self.url)
        self._open.append(db)
        return db

    def close(self) -> None:
        for db in self._open:
            db.close()
