"""A city archive back into a store and the API's databases, as the rows were.

Every member is checked against the manifest's SHA-256 before anything is written, so a
damaged or edited archive writes nothing. Then each series member is read line by line and
written in batches of `BATCH_ROWS` (memory stays flat), and each table member's rows are
inserted with INSERT OR IGNORE into the API database it came from (schema created when the
file is new). Stored points are keyed by series and time, so restoring an archive twice
leaves the store as the first restore did: idempotent, like the imports.

Derived rows (energy, roll-ups, emissions, anomaly scores and events) are restored as they
were, not derived again from the restored readings: see docs/export.md for why.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import itertools
import json
import sqlite3
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from peakline_api.alerts.store import AlertStore
from peakline_api.archive.errors import ArchiveInvalid
from peakline_api.archive.export import MANIFEST, AppDatabases
from peakline_api.archive.members import (
    ARCHIVE_FORMAT,
    FIELD_TYPES,
    decode,
    decode_block,
    header,
    series_member,
)
from peakline_api.ledger import CommandLedger
from peakline_api.refrigerant_store import RefrigerantStore
from peakline_api.retrofit_store import RetrofitStore
from peakline_core.storage import Store

BATCH_ROWS: Final = 5000
_SCHEMAS: Final[dict[str, Callable[[Path], Any]]] = {
    "ledger": lambda p: CommandLedger(str(p)),
    "alerts": AlertStore,
    "refrigerants": RefrigerantStore,
    "retrofits": RetrofitStore,
}


@dataclass
class RestoreReport:
    city: str
    period: dict[str, Any]
    rows: dict[str, int] = field(default_factory=dict)
    """member -> rows restored (table rows already present count too: they are left as is)"""

    def summary(self) -> dict[str, Any]:
        return {"city": self.city, "period": self.period, "rows": dict(self.rows)}


def read_manifest(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads(archive.read(MANIFEST))
    except KeyError:
        raise ArchiveInvalid("no manifest.json: not a peakline city archive") from None
    except json.JSONDecodeError as exc:
        raise ArchiveInvalid(f"manifest.json: {exc}") from None
    if manifest.get("format") != "peakline-city-archive":
        raise ArchiveInvalid("manifest.json: not a peakline city archive")
    if manifest.get("archive_format") != ARCHIVE_FORMAT:
        raise ArchiveInvalid(
            f"archive format {manifest.get('archive_format')!r}; this version reads "
            f"{ARCHIVE_FORMAT}"
        )
    return manifest


def verify(archive: zipfile.ZipFile, manifest: dict[str, Any]) -> None:
    """Every member the manifest lists is there with its SHA-256, and nothing else is."""
    listed = dict(manifest.get("members") or {})
    present = {i.filename for i in archive.infolist()} - {MANIFEST}
    if extra := present - set(listed):
        raise ArchiveInvalid(f"members not in the manifest: {sorted(extra)}")
    for name, meta in listed.items():
        if name not in present:
            raise ArchiveInvalid(f"member {name} is missing")
        digest = hashlib.sha256()
        with archive.open(name) as member:
            while chunk := member.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != meta.get("sha256"):
            raise ArchiveInvalid(f"member {name} does not match its SHA-256 in the manifest")


async def restore_archive(
    store: Store,
    path: Path,
    databases: AppDatabases,
    progress: Callable[[str, int], None] | None = None,
) -> RestoreReport:
    """Restore the archive at `path`; `progress(member, rows)` after each batch."""
    tell = progress or (lambda member, rows: None)
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveInvalid(f"{path}: {exc}") from None
    with archive:
        manifest = read_manifest(archive)
        await asyncio.to_thread(verify, archive, manifest)
        report = RestoreReport(str(manifest.get("city")), dict(manifest.get("period") or {}))
        for measurement in FIELD_TYPES:
            name = series_member(measurement)
            if name in manifest["members"]:
                report.rows[name] = await _series(store, archive, measurement, tell)
        for name, where in (manifest.get("tables") or {}).items():
            target = getattr(databases, str(where.get("database")), None)
            if name in manifest["members"] and target is not None:
                report.rows[name] = await asyncio.to_thread(
                    _table, archive, name, str(where["database"]), str(where["table"]), target
                )
                tell(name, report.rows[name])
    return report


async def _series(
    store: Store, archive: zipfile.ZipFile, measurement: str, tell: Callable[[str, int], None]
) -> int:
    name = series_member(measurement)
    done = 0
    with archive.open(name) as raw:
        lines = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        columns = next(lines, None)
        if columns != header(measurement):
            raise ArchiveInvalid(f"{name}: header {columns}, expected {header(measurement)}")
        while batch := list(itertools.islice(lines, BATCH_ROWS)):
            await _write(store, measurement, columns, batch)  # ArchiveFormatError: a bad line
            done += len(batch)
            tell(name, len(batch))
    return done


async def _write(
    store: Store, measurement: str, columns: list[str], batch: list[list[str]]
) -> None:
    """As one columnar block where the store takes blocks (both of ours do: the ingest hot
    path), else row by row."""
    write_blocks = getattr(store, "write_blocks", None)
    block = decode_block(measurement, columns, batch) if write_blocks is not None else None
    if block is not None and write_blocks is not None:
        await write_blocks([block])
    else:
        await store.write([decode(measurement, columns, cells) for cells in batch])


def _table(archive: zipfile.ZipFile, name: str, database: str, table: str, path: Path) -> int:
    opener = _SCHEMAS.get(database)
    if opener is None:
        raise ArchiveInvalid(f"{name}: unknown database {database!r}")
    with opener(path):  # creates the file (owner-only) and its schema
        pass
    db = sqlite3.connect(path, timeout=10.0)
    try:
        known = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        if not known:
            raise ArchiveInvalid(f"{name}: no table {table!r} in the {database} database")
        count = 0
        with archive.open(name) as raw, db:
            for line in io.TextIOWrapper(raw, encoding="utf-8"):
                row = json.loads(line)
                if not isinstance(row, dict) or not set(row) <= known:
                    raise ArchiveInvalid(f"{name}: a row with columns not in {table}")
                cols = list(row)
                db.execute(
                    f"INSERT OR IGNORE INTO {table} ({','.join(cols)})"
                    f" VALUES ({','.join('?' * len(cols))})",
                    [row[c] for c in cols],
                )
                count += 1
        return count
    finally:
        db.close()
