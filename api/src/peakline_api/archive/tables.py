"""Which rows of the API's own tables a city owns, for a period: one selection per table.

The export reads each table member with its selection; the restore runs the same selection
on the target to find the city's rows already there (refused, or deleted with `force`). Every
table of the API's schema is either a member here or in `NOT_CITY_TABLES` with the reason it
is not the city's (tests/unit/api/test_archive_tables.py reads the schemas and fails on a
table in neither, so a new city table cannot be left out of the archive unnoticed).

Tables are ordered parents first (commands before their events, incidents before their
notifications): the restore inserts in this order and deletes in the reverse one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Protocol


class Scope(Protocol):
    """What a selection needs of a city's scope (`export.CityScope`)."""

    @property
    def city(self) -> str: ...
    @property
    def start_ns(self) -> int: ...
    @property
    def end_ns(self) -> int: ...
    @property
    def sites(self) -> tuple[str, ...]: ...
    @property
    def assets(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)
class TableMember:
    """A member holding one API database table's rows of the city, as JSON Lines.

    `sql` has {sites} / {assets} for placeholder lists; `args` names each `?` in order:
    sites, assets, city, start, end (UTC ns), day_start, day_end (ISO dates). `keep` filters
    the rows SQL cannot (a JSON body). `key`: the row's identity, for deleting on a forced
    restore. `renumbered`: a counter column the target assigns again (nothing refers to it)."""

    member: str
    database: str  # AppDatabases attribute
    table: str
    sql: str
    args: tuple[str, ...]
    key: tuple[str, ...]
    keep: Callable[[Mapping[str, Any], Scope], bool] | None = None
    renumbered: str | None = None


def _dr_event_of(row: Mapping[str, Any], scope: Scope) -> bool:
    """A DR event is the city's when one of its sites is (an admin's event may span cities:
    it is in each city's archive, with the commands of that city's sites)."""
    sites = json.loads(row["body"]).get("sites") or []
    return any(s in scope.sites for s in sites)


# The city's commands: those of its sites issued in the period, and those of its sites that a
# DR event created in the period issued later (at the event's start or cancel), so an
# exported event's commands are always in the archive with it.
_DR_IN_PERIOD = "SELECT id FROM dr_events WHERE created_at >= ? AND created_at < ?"
_COMMANDS = (
    "FROM commands c WHERE c.site IN ({sites}) AND (c.issued_at >= ? AND c.issued_at < ?"
    f" OR c.origin IN (SELECT 'dr:' || id FROM ({_DR_IN_PERIOD}) d)"
    f" OR c.origin IN (SELECT 'dr:' || id || ':cancel' FROM ({_DR_IN_PERIOD}) d))"
)
_COMMAND_ARGS = ("sites", "start", "end", "start", "end", "start", "end")
_INCIDENTS = "FROM incident i WHERE i.city = ? AND i.opened_ns >= ? AND i.opened_ns < ?"

TABLES: Final = (
    TableMember(
        "tables/commands.jsonl", "ledger", "commands",
        f"SELECT c.* {_COMMANDS} ORDER BY c.issued_at, c.id", _COMMAND_ARGS, ("id",),
    ),
    TableMember(
        "tables/command_events.jsonl", "ledger", "command_events",
        f"SELECT e.* FROM command_events e WHERE e.command_id IN (SELECT c.id {_COMMANDS})"
        " ORDER BY e.seq", _COMMAND_ARGS, ("seq",), renumbered="seq",
    ),
    TableMember(
        "tables/dr_events.jsonl", "ledger", "dr_events",
        "SELECT * FROM dr_events WHERE created_at >= ? AND created_at < ?"
        " ORDER BY created_at, id", ("start", "end"), ("id",), keep=_dr_event_of,
    ),
    TableMember(
        "tables/alert_incidents.jsonl", "alerts", "incident",
        f"SELECT i.* {_INCIDENTS} ORDER BY i.opened_ns, i.id", ("city", "start", "end"),
        ("id",),
    ),
    TableMember(
        "tables/alert_outbox.jsonl", "alerts", "outbox",
        f"SELECT o.* FROM outbox o WHERE o.incident IN (SELECT i.id {_INCIDENTS})"
        " ORDER BY o.created_ns, o.key, o.channel", ("city", "start", "end"),
        ("key", "channel"),
    ),
    TableMember(
        "tables/alert_rules.jsonl", "alerts", "rule",
        "SELECT id, city, body, updated_ns, updated_by FROM rule WHERE city = ? ORDER BY id",
        ("city",), ("id",),
    ),
    TableMember(
        "tables/refrigerant_service.jsonl", "refrigerants", "refrigerant_service",
        "SELECT * FROM refrigerant_service WHERE asset IN ({assets}) AND day >= ? AND day < ?"
        " ORDER BY day, id", ("assets", "day_start", "day_end"), ("id",),
    ),
    TableMember(
        "tables/retrofits.jsonl", "retrofits", "retrofit",
        "SELECT * FROM retrofit WHERE site IN ({sites}) ORDER BY id", ("sites",), ("id",),
    ),
)  # fmt: skip

NOT_CITY_TABLES: Final = {
    "api_key": "the programme's access keys (token hashes): never leave with a city's data",
    "evaluator": "the alert evaluator's own cursor (programme-wide)",
    "channel_send": "a notification channel's rate-limit log (programme-wide, pruned)",
    "lease": "which replica holds the sweeper's or evaluator's lease right now",
    "schema_version": "PostgreSQL's migration record",
}


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).date().isoformat()


def selection(table: TableMember, scope: Scope) -> tuple[str, list[Any]]:
    """The table's SQL (`?` placeholders, both engines) and arguments for the city's rows."""
    sql = table.sql.format(
        sites=",".join("?" * len(scope.sites)) or "NULL",
        assets=",".join("?" * len(scope.assets)) or "NULL",
    )
    values: dict[str, list[Any]] = {
        "sites": list(scope.sites),
        "assets": list(scope.assets),
        "city": [scope.city],
        "start": [scope.start_ns],
        "end": [scope.end_ns],
        "day_start": [_day(scope.start_ns)],
        "day_end": [_day(scope.end_ns)],
    }
    args: list[Any] = []
    for name in table.args:
        args += values[name]
    return sql, args
