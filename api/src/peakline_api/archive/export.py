"""A city's archive for a period, streamed: everything the city owns, read in slices.

The time series are read from the store one site (or grid region) and one time slice at a
time (`members.SLICE_NS`: a day of raw readings), each slice's fields merged into points and
written as CSV lines into a deflated member; the API's own databases (command ledger, alert
incidents and rules, refrigerant service records, retrofits) are read with `fetchmany` as
JSON Lines. Bytes leave as soon as a slice is compressed, so memory holds one slice, never
the archive. The manifest (last member) gives each member's rows and SHA-256. See
docs/export.md.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Final

from peakline_api.archive.errors import ExportError
from peakline_api.archive.members import (
    ARCHIVE_FORMAT,
    DAY_NS,
    FIELD_TYPES,
    SLICE_NS,
    WHOLE_NS,
    encode_series,
    header,
    series_member,
)
from peakline_api.archive.tables import TABLES, TableMember, selection
from peakline_api.archive.zipstream import ZipStream
from peakline_api.statedb import StateDb
from peakline_core.config import PlatformConfig
from peakline_core.storage import Aggregate, SeriesQuery, Store, StoreTruncated
from peakline_core.storage.schema import CARBON_INTENSITY, SCHEMA_VERSION, SERIES_TAGS
from peakline_core.storage.store import FieldValue

MAX_PERIOD_NS: Final = 367 * DAY_NS
"""A year (a leap year) and a day of slack for a local-time year's offsets."""
MIN_SLICE_NS: Final = 60 * 1_000_000_000  # a truncated read is not split below a minute
MANIFEST: Final = "manifest.json"
CONFIG: Final = "config/city.json"
FETCH_ROWS: Final = 2000

Progress = Callable[[str, int, int], None]
"""Called with (member, rows just written, store reads just done: see `planned_reads`)."""


@dataclass(frozen=True, slots=True)
class AppDatabases:
    """The API's own databases: SQLite files, or the shared PostgreSQL state (`--state-url`);
    None (or a missing file) exports their members empty."""

    ledger: Path | StateDb | None = None
    alerts: Path | StateDb | None = None
    refrigerants: Path | StateDb | None = None
    retrofits: Path | StateDb | None = None

    @classmethod
    def beside(cls, keys_db: Path) -> AppDatabases:
        """Where the API keeps them by default: next to its key database."""
        return cls(
            keys_db.with_name("ledger.db"),
            keys_db.with_name("alerts.db"),
            keys_db.with_name("refrigerants.db"),
            keys_db.with_name("retrofits.db"),
        )


@dataclass(frozen=True, slots=True)
class CityScope:
    """What a city owns: its sites, their grid regions and refrigerant assets, and the
    config slice (city, districts, sites, devices) as JSON values."""

    city: str
    start_ns: int
    end_ns: int
    sites: tuple[str, ...]
    regions: tuple[str, ...]
    assets: tuple[str, ...]
    config: dict[str, Any] = field(repr=False)


def city_scope(config: PlatformConfig, city: str, start_ns: int, end_ns: int) -> CityScope:
    """The city's scope over [start_ns, end_ns) (UTC ns); ExportError for an unknown city or
    a period that is empty, reversed or longer than `MAX_PERIOD_NS`."""
    cities = {c.id: c for c in config.programme.cities}
    if city not in cities:
        raise ExportError(f"no city {city!r} in the config")
    if end_ns <= start_ns:
        raise ExportError("the period's start must be before its end")
    if end_ns - start_ns > MAX_PERIOD_NS:
        raise ExportError("an export spans at most 367 days: export a year at a time")
    sites = sorted((s for s in config.sites.values() if s.city == city), key=lambda s: s.id)
    site_ids = {s.id for s in sites}
    devices = sorted((d for d in config.devices.values() if d.site in site_ids), key=lambda d: d.id)
    districts = [d for d in config.programme.districts if d.city == city]
    assets = [a.id for a in config.inventory.refrigerant_assets if a.site in site_ids]
    slice_ = {
        "city": cities[city].model_dump(mode="json"),
        "districts": [d.model_dump(mode="json") for d in districts],
        "sites": [s.model_dump(mode="json") for s in sites],
        "devices": [d.model_dump(mode="json") for d in devices],
    }
    return CityScope(
        city,
        start_ns,
        end_ns,
        tuple(s.id for s in sites),
        tuple(sorted({s.grid_region for s in sites})),
        tuple(sorted(assets)),
        slice_,
    )


def generator() -> str:
    try:
        return f"peakline-api {version('peakline-api')}"
    except PackageNotFoundError:  # a source checkout without the package installed
        return "peakline-api (unknown version)"


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


def _groups(scope: CityScope, measurement: str) -> list[dict[str, Sequence[str]]]:
    """One store read's `where` per site (per grid region for the grid's intensity)."""
    groups: list[dict[str, Sequence[str]]] = (
        [{"region": list(scope.regions)}]
        if measurement == CARBON_INTENSITY
        else [{"site": [site]} for site in scope.sites]
    )
    return [g for g in groups if all(g.values())]


def _reads(
    scope: CityScope, measurement: str
) -> Iterator[tuple[dict[str, Sequence[str]], int, int]]:
    """(where, start, end) of each slice read of `measurement`, slices epoch-aligned."""
    step = SLICE_NS.get(measurement, WHOLE_NS)
    for where in _groups(scope, measurement):
        for lo, hi in _slices(scope.start_ns, scope.end_ns, step):
            yield where, lo, hi


async def _busy(
    store: Store, measurement: str, where: dict[str, Sequence[str]], scope: CityScope
) -> set[int]:
    """Start of each epoch-aligned slice holding a value of any field: one COUNT per field
    over the whole period, instead of a read per slice (most slices of a year are empty
    for a site that joined in December)."""
    step = SLICE_NS.get(measurement, WHOLE_NS)
    busy: set[int] = set()
    for name in FIELD_TYPES[measurement]:
        q = SeriesQuery(
            measurement, name, scope.start_ns, scope.end_ns, where, step, Aggregate.COUNT
        )
        try:
            answer = await store.query(q)
        except StoreTruncated:  # too many series x slices for one answer: read every slice
            return {lo for lo, _ in _slices(scope.start_ns, scope.end_ns, step)}
        for s in answer:
            busy.update(
                max(int(t), scope.start_ns) for t, v in zip(s.times, s.values, strict=True) if v
            )
    return busy


def planned_reads(scope: CityScope) -> int:
    """How many slice reads `export_city` makes (a progress bar's total)."""
    return sum(1 for m in FIELD_TYPES for _ in _reads(scope, m))


def _slices(start: int, end: int, step: int) -> Iterator[tuple[int, int]]:
    """[start, end) cut at multiples of `step` (as the store's time buckets are)."""
    t = start
    while t < end:
        nxt = min(end, (t // step + 1) * step)
        yield t, nxt
        t = nxt


async def points(
    store: Store, measurement: str, where: dict[str, Sequence[str]], start: int, end: int
) -> list[tuple[str, ...]]:
    """The CSV cells of every point of `measurement` in [start, end) matching `where`, in
    series-tag then time order: one store read per field, merged into points. A read the
    store cuts short (influxd's `max-row-limit`) is made again as two halves of the slice."""
    try:
        return await _points(store, measurement, where, start, end)
    except StoreTruncated:
        if end - start <= MIN_SLICE_NS:
            raise
        mid = start + (end - start) // 2
        first = await points(store, measurement, where, start, mid)
        return first + await points(store, measurement, where, mid, end)


async def _points(
    store: Store, measurement: str, where: dict[str, Sequence[str]], start: int, end: int
) -> list[tuple[str, ...]]:
    keys = SERIES_TAGS[measurement]
    merged: dict[tuple[str, ...], dict[str, tuple[Sequence[int], Sequence[FieldValue | None]]]]
    merged = {}
    tags_of: dict[tuple[str, ...], dict[str, str]] = {}
    for name in FIELD_TYPES[measurement]:
        for s in await store.query(SeriesQuery(measurement, name, start, end, where)):
            key = tuple(s.tags.get(k, "") for k in keys)
            tags_of.setdefault(key, dict(s.tags))
            merged.setdefault(key, {})[name] = (s.times, s.values)
    out: list[tuple[str, ...]] = []
    for key in sorted(merged):
        out.extend(encode_series(measurement, tags_of[key], merged[key]))
    return out


def _csv(rows: Sequence[Sequence[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


def _open_ro(path: Path | None) -> sqlite3.Connection | None:
    if path is None or not path.exists():
        return None
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)


async def export_city(
    store: Store,
    scope: CityScope,
    databases: AppDatabases,
    *,
    now_ns: int,
    progress: Progress | None = None,
) -> AsyncGenerator[bytes, None]:
    """The archive's bytes, piece by piece (a few hundred kB at most each)."""
    when = datetime.fromtimestamp(now_ns / 1e9, UTC)
    archive = ZipStream((max(1980, when.year), when.month, when.day, when.hour, when.minute, 0))
    tell = progress or (lambda member, rows, reads: None)
    for measurement in FIELD_TYPES:
        name = series_member(measurement)
        with archive.member(name) as out:
            out.write(_csv([header(measurement)]))
            step = SLICE_NS.get(measurement, WHOLE_NS)
            for where in _groups(scope, measurement):
                busy = await _busy(store, measurement, where, scope)
                for lo, hi in _slices(scope.start_ns, scope.end_ns, step):
                    rows = await points(store, measurement, where, lo, hi) if lo in busy else []
                    if rows:
                        out.write(_csv(rows), len(rows))
                    tell(name, len(rows), 1)
                    if rows:
                        yield archive.take()
        yield archive.take()
    for table in TABLES:
        with archive.member(table.member) as out:
            async for lines in _table_rows(table, scope, getattr(databases, table.database)):
                out.write("".join(lines).encode(), len(lines))
                tell(table.member, len(lines), 0)
                yield archive.take()
        yield archive.take()
    with archive.member(CONFIG) as out:
        out.write(json.dumps(scope.config, indent=1, sort_keys=True).encode() + b"\n", 1)
    manifest = {
        "format": "peakline-city-archive",
        "archive_format": ARCHIVE_FORMAT,
        "storage_schema": SCHEMA_VERSION,
        "generator": generator(),
        "created": _iso(now_ns),
        "city": scope.city,
        "period": {
            "start": _iso(scope.start_ns),
            "end": _iso(scope.end_ns),
            "start_ns": scope.start_ns,
            "end_ns": scope.end_ns,
        },
        "data_format": "csv",
        "scope": {
            "sites": list(scope.sites),
            "regions": list(scope.regions),
            "assets": list(scope.assets),
        },
        "members": {
            name: {"rows": d.rows, "bytes": d.bytes, "sha256": d.sha256}
            for name, d in archive.digests.items()
        },
        "tables": {t.member: {"database": t.database, "table": t.table} for t in TABLES},
    }
    with archive.member(MANIFEST) as out:
        out.write(json.dumps(manifest, indent=1).encode() + b"\n")
    yield archive.close()


async def _table_rows(
    table: TableMember, scope: CityScope, path: Path | StateDb | None
) -> AsyncIterator[list[str]]:
    """JSON lines of the table's rows of the city, `FETCH_ROWS` at a time."""
    sql, args = selection(table, scope)
    if path is not None and not isinstance(path, Path):  # the shared PostgreSQL state
        columns, rows = await asyncio.to_thread(path.query_named, sql, args)
        for i in range(0, len(rows), FETCH_ROWS):
            if lines := _lines(table, scope, columns, rows[i : i + FETCH_ROWS]):
                yield lines
        return
    db = await asyncio.to_thread(_open_ro, path)
    if db is None:
        return
    try:
        try:
            cursor = await asyncio.to_thread(db.execute, sql, args)
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # a database from before the table existed
                return
            raise ExportError(f"{path}: {exc}") from None
        columns = [c[0] for c in cursor.description]
        while batch := await asyncio.to_thread(cursor.fetchmany, FETCH_ROWS):
            if lines := _lines(table, scope, columns, batch):
                yield lines
    finally:
        db.close()


def _lines(
    table: TableMember, scope: CityScope, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> list[str]:
    named = (dict(zip(columns, row, strict=True)) for row in rows)
    return [
        json.dumps(row, ensure_ascii=False) + "\n"
        for row in named
        if table.keep is None or table.keep(row, scope)
    ]
