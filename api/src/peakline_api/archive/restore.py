"""A city archive back into a store and the API's databases, as the rows were.

Every member is checked against the manifest's SHA-256 before anything is written, so a
damaged or edited archive writes nothing. Nor does a restore into a target already holding
the city's rows: the store's points of the city's sites in the archive's span, or the API
tables' rows of the city in the archive's selection (`TargetNotEmpty`), unless `force`: then
the points the archive has overwrite the store's (the store keeps others: it has no delete)
and the tables' rows of the city are deleted first. Then each series member is read line by
line and written in batches of `BATCH_ROWS` (memory stays flat), and each table member's rows
are inserted into the API state (`state_restore`: SQLite files or PostgreSQL).

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
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from peakline_api.archive import state_restore
from peakline_api.archive.errors import ArchiveInvalid, TargetNotEmpty
from peakline_api.archive.export import CONFIG, MANIFEST, AppDatabases
from peakline_api.archive.members import (
    FIELD_TYPES,
    READABLE_FORMATS,
    decode,
    decode_block,
    header,
    series_member,
)
from peakline_api.archive.tables import TableMember
from peakline_core.storage import Aggregate, SeriesQuery, Store, StoreTruncated
from peakline_core.storage.schema import CARBON_INTENSITY

BATCH_ROWS: Final = 5000


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
    if manifest.get("archive_format") not in READABLE_FORMATS:
        raise ArchiveInvalid(
            f"archive format {manifest.get('archive_format')!r}; this version reads "
            f"{sorted(READABLE_FORMATS)}"
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


@dataclass(frozen=True, slots=True)
class ArchiveScope:
    """The city, span and sites the archive covers (`tables.Scope`), from its manifest."""

    city: str
    start_ns: int
    end_ns: int
    sites: tuple[str, ...]
    assets: tuple[str, ...]


def archive_scope(archive: zipfile.ZipFile, manifest: dict[str, Any]) -> ArchiveScope:
    period = manifest.get("period") or {}
    scope = manifest.get("scope")
    if scope is None:  # format 1: the sites are the config slice's; no assets listed
        try:
            config = json.loads(archive.read(CONFIG))
        except (KeyError, json.JSONDecodeError) as exc:
            raise ArchiveInvalid(f"{CONFIG}: {exc}") from None
        scope = {"sites": [s["id"] for s in config.get("sites", [])], "assets": []}
    try:
        return ArchiveScope(
            str(manifest["city"]),
            int(period["start_ns"]),
            int(period["end_ns"]),
            tuple(str(s) for s in scope["sites"]),
            tuple(str(a) for a in scope["assets"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveInvalid(f"manifest.json: no city, period or scope ({exc})") from None


async def store_holds(store: Store, scope: ArchiveScope) -> list[str]:
    """The series members whose measurement the store holds rows of, of the city's sites in
    the archive's span: one COUNT per field until one answers. The grid's intensity is left
    out: it is shared by every city of a region, and a restore writes the same values."""
    held: list[str] = []
    if not scope.sites:
        return held
    span = scope.end_ns - scope.start_ns
    for measurement, fields in FIELD_TYPES.items():
        if measurement == CARBON_INTENSITY:
            continue
        for name in fields:
            q = SeriesQuery(
                measurement, name, scope.start_ns, scope.end_ns, {"site": list(scope.sites)},
                span, Aggregate.COUNT,
            )  # fmt: skip
            try:
                counted = any(v for s in await store.query(q) for v in s.values)
            except StoreTruncated:  # more series than one answer holds: not empty
                counted = True
            if counted:
                held.append(series_member(measurement))
                break
    return held


async def restore_archive(
    store: Store,
    path: Path,
    databases: AppDatabases,
    progress: Callable[[str, int], None] | None = None,
    *,
    force: bool = False,
    now_ns: int | None = None,
) -> RestoreReport:
    """Restore the archive at `path`; `progress(member, rows)` after each batch. `databases`:
    SQLite files or the PostgreSQL state (None: the tables are not restored). `now_ns` (UTC
    ns): when a DR event not yet started is marked cancelled (default: the clock)."""
    tell = progress or (lambda member, rows: None)
    now = time.time_ns() if now_ns is None else now_ns
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveInvalid(f"{path}: {exc}") from None
    with archive:
        manifest = read_manifest(archive)
        await asyncio.to_thread(verify, archive, manifest)
        scope = archive_scope(archive, manifest)
        tables = state_restore.members_of(manifest)
        target = await asyncio.to_thread(
            state_restore.StateTarget.open,
            {t.database: getattr(databases, t.database) for t in tables},
        )
        try:
            await _check_empty(store, target, tables, scope, force)
            report = RestoreReport(scope.city, dict(manifest.get("period") or {}))
            for measurement in FIELD_TYPES:
                name = series_member(measurement)
                if name in manifest["members"]:
                    report.rows[name] = await _series(store, archive, measurement, tell)
            tables = [t for t in tables if t.database in target.dbs]
            if force:
                await asyncio.to_thread(state_restore.clear, target, tables, scope)
            for t in tables:
                report.rows[t.member] = await asyncio.to_thread(
                    state_restore.insert, target, archive, t, now
                )
                tell(t.member, report.rows[t.member])
        finally:
            target.close()
    return report


async def _check_empty(
    store: Store,
    target: state_restore.StateTarget,
    tables: list[TableMember],
    scope: ArchiveScope,
    force: bool,
) -> None:
    if force:
        return
    series = await store_holds(store, scope)
    rows = await asyncio.to_thread(state_restore.occupied, target, tables, scope)
    if not (series or rows):
        return
    held = [f"the store holds {', '.join(series)}"] if series else []
    if rows:
        held.append("the API state holds " + ", ".join(f"{n} rows of {m}" for m, n in rows.items()))
    raise TargetNotEmpty(
        f"the target already holds {scope.city}'s rows in the archive's span: "
        f"{'; '.join(held)}. Restore into an empty store and state, or force it (--force:"
        " the archive's points overwrite the store's, its table rows replace the city's)"
    )


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
