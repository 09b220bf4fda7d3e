"""The city archive covers every city-owned table of the API's state: each table any schema
creates (the stores' SQLite schemas and the PostgreSQL migrations, read from the sources) is a
table member of the archive or listed as not the city's with a reason. A new table added to
a schema and to neither fails here, so the export cannot drift behind the schema."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from peakline_api.archive.state_restore import RESTORED_NOTE, settled
from peakline_api.archive.tables import NOT_CITY_TABLES, TABLES

_CREATE = re.compile(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", re.IGNORECASE)


def _schema_tables() -> dict[str, set[str]]:
    """table -> the source files creating it, over the API package's Python sources."""
    root = Path(str(files("peakline_api")))
    found: dict[str, set[str]] = {}
    for source in root.rglob("*.py"):
        for table in _CREATE.findall(source.read_text(encoding="utf-8")):
            found.setdefault(table, set()).add(source.relative_to(root).as_posix())
    return found


def test_every_table_of_the_schemas_is_exported_or_said_not_to_be_the_citys() -> None:
    schema = _schema_tables()
    exported = {t.table for t in TABLES}
    assert {"commands", "dr_events", "incident", "outbox", "retrofit"} <= set(schema)
    assert "statedb/migrations.py" in schema["dr_events"]  # PostgreSQL's tables are read too
    missing = set(schema) - exported - set(NOT_CITY_TABLES)
    assert not missing, f"tables neither in the city archive nor in NOT_CITY_TABLES: {missing}"
    assert not exported & set(NOT_CITY_TABLES)
    assert exported <= set(schema) and set(NOT_CITY_TABLES) <= set(schema)


def test_members_are_unique_and_parents_come_first() -> None:
    members = [t.member for t in TABLES]
    assert len(members) == len(set(members))
    order = [t.table for t in TABLES]
    assert order.index("commands") < order.index("command_events")
    assert order.index("incident") < order.index("outbox")


def test_live_work_is_restored_as_history() -> None:
    """What the target would carry out (send, publish, start) is restored done with."""
    pending = {"key": "k", "channel": "mail", "sent_ns": None, "dead": 0, "last_error": None}
    assert settled("outbox", pending, 5) == {**pending, "dead": 1, "last_error": RESTORED_NOTE}
    sent = {**pending, "sent_ns": 4}
    assert settled("outbox", sent, 5) == sent
    given_up = {**pending, "dead": 1, "last_error": "550"}
    assert settled("outbox", given_up, 5) == given_up
    accepted = {"id": "c", "state": "accepted", "reason": None}
    assert settled("commands", accepted, 5) == {**accepted, "state": "expired",
                                                "reason": RESTORED_NOTE}  # fmt: skip
    applied = {"id": "c", "state": "applied", "reason": None}
    assert settled("commands", applied, 5) == applied
    scheduled = settled("dr_events", {"id": "e", "body": '{"state": "scheduled"}'}, 5)
    assert '"state": "cancelled"' in scheduled["body"] and '"cancelled_ns": 5' in scheduled["body"]
    done = {"id": "e", "body": '{"state": "completed"}'}
    assert settled("dr_events", done, 5) == done
