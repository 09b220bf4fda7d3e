"""Refrigerant service records entered through the API (issue 26): a small SQLite table next
to the key database (`refrigerants.db`), or where `settings.extra["refrigerants_db"]` says.

inventory.yaml's records are the history the programme started with; records posted here
add to them (top-ups and recoveries of the same assets) and enter the inventory's fugitive
emissions. Opened per request, like the retrofits store.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

_SCHEMA = """
CREATE TABLE IF NOT EXISTS refrigerant_service (
    id TEXT PRIMARY KEY,
    asset TEXT NOT NULL,
    day TEXT NOT NULL,
    kind TEXT NOT NULL,
    kg REAL NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS refrigerant_service_asset ON refrigerant_service (asset, day);
"""

ServiceKind = Literal["top_up", "recovery"]


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """One posted service record: `kg` of refrigerant added (top_up) or recovered."""

    id: str
    asset: str
    day: date
    kind: ServiceKind
    kg: float
    note: str
    recorded_by: str
    recorded_at_ns: int


class RefrigerantStore:
    """`with RefrigerantStore(path) as store:`; plain sqlite3, WAL, synchronous=FULL."""

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> Self:
        self._db = sqlite3.connect(self._path, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
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
            raise RuntimeError("RefrigerantStore used outside its `with` block")
        return self._db

    def add(
        self,
        asset: str,
        day: date,
        kind: ServiceKind,
        kg: float,
        note: str,
        recorded_by: str,
        now_ns: int,
    ) -> ServiceEntry:
        e = ServiceEntry(uuid.uuid4().hex, asset, day, kind, kg, note, recorded_by, now_ns)
        with self.db:
            self.db.execute(
                "INSERT INTO refrigerant_service VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (e.id, e.asset, e.day.isoformat(), e.kind, e.kg, e.note, e.recorded_by, now_ns),
            )
        return e

    def of_assets(self, assets: Sequence[str]) -> list[ServiceEntry]:
        """Records of the given assets, oldest first."""
        if not assets:
            return []
        marks = ",".join("?" * len(assets))
        rows = self.db.execute(
            f"SELECT * FROM refrigerant_service WHERE asset IN ({marks})"
            " ORDER BY day, recorded_at_ns",
            tuple(assets),
        )
        return [_row(r) for r in rows]


def _row(row: tuple[object, ...]) -> ServiceEntry:
    rid, asset, day, kind, kg, note, by, at = row
    return ServiceEntry(
        str(rid),
        str(asset),
        date.fromisoformat(str(day)),
        "recovery" if kind == "recovery" else "top_up",
        float(kg),  # type: ignore[arg-type]
        str(note),
        str(by),
        int(at),  # type: ignore[call-overload]
    )
