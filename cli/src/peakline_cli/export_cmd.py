"""`peakline export --city CITY --from .. --to .. -o city.zip`: a city's archive, and
`peakline import archive city.zip`: the way back (registered under `import`).

The archive is written as it is read (a slice of the store at a time) with a progress bar
over the store reads. See docs/export.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from peakline_api.archive import (
    AppDatabases,
    ArchiveInvalid,
    CityScope,
    ExportError,
    TargetNotEmpty,
    city_scope,
    export_city,
    planned_reads,
    restore_archive,
)
from peakline_api.archive.restore import read_manifest
from peakline_api.statedb import StateError, open_postgres
from peakline_api.timespec import TimeSpecError, parse_time
from peakline_core.config import load_config
from peakline_core.errors import ConfigError
from peakline_core.storage import StoreError
from peakline_store.open import StoreUrlError, open_store

console = Console(stderr=True)

StoreOpt = Annotated[
    str,
    typer.Option(
        envvar="PEAKLINE_STORE", help="sqlite:///path.db or http://influx:8086?db=peakline"
    ),
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="the API's state directory (ledger.db, alerts.db, refrigerants.db, retrofits.db"
        " beside keys.db); without it or --state-url the archive's table members stay empty",
    ),
]
StateUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--state-url",
        envvar="PEAKLINE_STATE_URL",
        help="the API's shared PostgreSQL state (postgresql://...) instead of --state-dir",
    ),
]


@contextlib.contextmanager
def _databases(state_dir: Path | None, state_url: str | None) -> Iterator[AppDatabases]:
    """The API's databases: its PostgreSQL state (open while the command runs), its SQLite
    files under `state_dir`, or none."""
    if state_url is not None and state_dir is not None:
        raise typer.BadParameter("give --state-dir or --state-url, not both")
    if state_url is None:
        yield AppDatabases() if state_dir is None else AppDatabases.beside(state_dir / "keys.db")
        return
    with open_postgres(state_url) as db:
        yield AppDatabases(db, db, db, db)


def export_command(
    city: Annotated[str, typer.Option(help="city id")],
    start: Annotated[str, typer.Option("--from", help="UTC start (ISO 8601: 2026-01-01)")],
    end: Annotated[str, typer.Option("--to", help="UTC end, exclusive (2027-01-01)")],
    output: Annotated[Path, typer.Option("-o", "--output", help="the zip to write")],
    store: StoreOpt,
    config: Annotated[Path, typer.Option(help="configuration directory")] = Path("config"),
    state_dir: StateOpt = None,
    state_url: StateUrlOpt = None,
    format: Annotated[str, typer.Option(help="csv (Parquet is not built)")] = "csv",
) -> None:
    """Export everything a city owns for a period into one zip (CSV members + manifest)."""
    if format != "csv":
        raise typer.BadParameter("only csv is built (see docs/export.md)", param_hint="--format")
    try:
        now = time.time_ns()
        scope = city_scope(load_config(config), city, parse_time(start, now), parse_time(end, now))
        with _databases(state_dir, state_url) as dbs:
            rows = asyncio.run(_export(scope, store, dbs, output))
    except (ExportError, TimeSpecError, ConfigError, StoreUrlError, StoreError, StateError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    console.print(f"[green]wrote[/green] {output} ({rows:,} rows, {output.stat().st_size:,} bytes)")


async def _export(scope: CityScope, store_url: str, dbs: AppDatabases, output: Path) -> int:
    store = open_store(store_url)
    total = 0
    partial = output.with_name(output.name + ".partial")
    try:
        with (
            Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rows]:,} rows"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            ) as bar,
            partial.open("wb") as out,
        ):
            task = bar.add_task(f"export {scope.city}", total=planned_reads(scope), rows=0)

            def tell(member: str, rows: int, reads: int) -> None:
                nonlocal total
                total += rows
                bar.update(task, advance=reads, rows=total, description=member)

            async for chunk in export_city(store, scope, dbs, now_ns=time.time_ns(), progress=tell):
                out.write(chunk)
        partial.replace(output)  # a cut-short export never looks finished
    finally:
        partial.unlink(missing_ok=True)
        await store.aclose()
    return total


def archive_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    store: StoreOpt,
    state_dir: StateOpt = None,
    state_url: StateUrlOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="restore into a target already holding the city's rows in the archive's span:"
            " the archive's points overwrite the store's, its table rows replace the city's",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Restore a city archive (`peakline export`) into an empty store and API state, rows as
    they were (a target holding the city's rows is refused unless --force)."""
    try:
        with _databases(state_dir, state_url) as dbs:
            report = asyncio.run(_restore(file, store, dbs, force))
    except TargetNotEmpty as exc:
        console.print(f"[red]refused:[/red] {exc}")
        raise typer.Exit(3) from exc
    except (ArchiveInvalid, StoreUrlError, StoreError, StateError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        print(json.dumps(report, indent=2))
        return
    console.print(
        f"[green]restored[/green] {file.name}: city {report['city']}, "
        f"{report['period'].get('start')} to {report['period'].get('end')}"
    )
    for member, rows in report["rows"].items():
        console.print(f"  {member}: {rows:,} rows")


def _rows_in(file: Path) -> int | None:
    """The archive's rows as its manifest says (the progress bar's total), if it says."""
    try:
        with zipfile.ZipFile(file) as archive:
            members = read_manifest(archive).get("members") or {}
    except (ArchiveInvalid, zipfile.BadZipFile, OSError):
        return None  # restore_archive says what is wrong
    rows: int = sum(int(m.get("rows", 0)) for n, m in members.items() if n != "config/city.json")
    return rows


async def _restore(file: Path, store_url: str, dbs: AppDatabases, force: bool) -> dict[str, Any]:
    store = open_store(store_url)
    try:
        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(f"restore {file.name}", total=_rows_in(file))

            def tell(member: str, rows: int) -> None:
                bar.update(task, advance=rows, description=member)

            report = await restore_archive(store, file, dbs, tell, force=force)
    finally:
        await store.aclose()
    return report.summary()
