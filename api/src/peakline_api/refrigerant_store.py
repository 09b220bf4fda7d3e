"""Refrigerant service records entered through the API: a small SQLite table next
to the key database (`refrigerants.db`), or the shared PostgreSQL state.

inventory.yaml's records are the history the programme started with; records posted here
add to them (top-ups and recoveries of the same assets) and enter the inventory's fugitive
emissions. Opened per request, like the retrofits store.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from peakline_api.sqlite_file import SqliteFile

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

_COLUMNS = "id, asset, day, kind, kg, note, recorded_by, recorded_at_ns"

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


class RefrigerantStore(SqliteFile):
    """`with RefrigerantStore(path_or_state_db) as store:` (sqlite_file.py)."""

    schema = _SCHEMA

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
        self.db.execute(
            f"INSERT INTO refrigerant_service ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (e.id, e.asset, e.day.isoformat(), e.kind, e.kg, e.note, e.recorded_by, now_ns),
        )
        return e

    def of_assets(self, assets: Sequence[str]) -> list[ServiceEntry]:
        """Records of the given assets, oldest first."""
        if not assets:
            return []
        marks = ",".join("?" * len(assets))
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM refrigerant_service WHERE asset IN ({marks})"
            " ORDER BY day, recorded_at_ns, id",
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
