"""Recorded retrofits: a small SQLite table next to the key database (`retrofits.db`), or the
shared PostgreSQL state.

A retrofit is what an operator did to a site (date, measures, cost); M&V reads it to split the
metered history into a baseline and a reporting period. Opened per request: each call is one
short transaction, so no connection outlives the request that made it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

from peakline_api.sqlite_file import SqliteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS retrofit (
    id TEXT PRIMARY KEY,
    site TEXT NOT NULL,
    day TEXT NOT NULL,
    measures TEXT NOT NULL,
    cost REAL,
    currency TEXT,
    note TEXT NOT NULL DEFAULT '',
    recorded_by TEXT NOT NULL,
    recorded_at_ns INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS retrofit_site ON retrofit (site, day);
"""


_COLUMNS = "id, site, day, measures, cost, currency, note, recorded_by, recorded_at_ns"


@dataclass(frozen=True, slots=True)
class Retrofit:
    """One retrofit: `day` is the first day of the reporting period (site local date)."""

    id: str
    site: str
    day: date
    measures: tuple[str, ...]
    cost: float | None
    currency: str | None
    note: str
    recorded_by: str
    recorded_at_ns: int


class RetrofitStore(SqliteFile):
    """`with RetrofitStore(path_or_state_db) as store:` (sqlite_file.py)."""

    schema = _SCHEMA

    def add(
        self,
        site: str,
        day: date,
        measures: Sequence[str],
        cost: float | None,
        currency: str | None,
        note: str,
        recorded_by: str,
        now_ns: int,
    ) -> Retrofit:
        r = Retrofit(
            uuid.uuid4().hex, site, day, tuple(measures), cost, currency, note, recorded_by, now_ns
        )
        self.db.execute(
            "INSERT INTO retrofit (id, site, day, measures, cost, currency, note, recorded_by,"
            " recorded_at_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                r.id,
                r.site,
                r.day.isoformat(),
                json.dumps(list(r.measures)),
                r.cost,
                r.currency,
                r.note,
                r.recorded_by,
                r.recorded_at_ns,
            ),
        )
        return r

    def get(self, retrofit_id: str) -> Retrofit | None:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM retrofit WHERE id = ?", (retrofit_id,))
        return _row(rows[0]) if rows else None

    def of_sites(self, sites: Sequence[str]) -> list[Retrofit]:
        """Retrofits of the given sites, oldest first."""
        if not sites:
            return []
        marks = ",".join("?" * len(sites))
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM retrofit WHERE site IN ({marks})"
            " ORDER BY day, recorded_at_ns, id",
            tuple(sites),
        )
        return [_row(r) for r in rows]

    def __iter__(self) -> Iterator[Retrofit]:
        rows = self.db.query(f"SELECT {_COLUMNS} FROM retrofit ORDER BY day, recorded_at_ns, id")
        return iter(_row(r) for r in rows)


def _row(row: tuple[object, ...]) -> Retrofit:
    rid, site, day, measures, cost, currency, note, by, at = row
    return Retrofit(
        str(rid),
        str(site),
        date.fromisoformat(str(day)),
        tuple(json.loads(str(measures))),
        None if cost is None else float(cost),  # type: ignore[arg-type]
        None if currency is None else str(currency),
        str(note),
        str(by),
        int(at),  # type: ignore[call-overload]
    )
