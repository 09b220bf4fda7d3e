"""`peakline import interval|bills FILE`: historical data into the store.

A dry run by default: it parses the file, compares it with the store and prints what would
be written (rows, span, total, new/changed/unchanged, every bad row); `--commit` writes it.
The file is streamed a chunk of rows at a time (any length, bounded memory) under a
progress bar of the bytes read (on stderr). See docs/import.md.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from peakline_cli import export_cmd
from peakline_core.importing import BillSpec, ImportingError, IntervalSpec
from peakline_store.importing import ImportPlan, ImportRefused, Phase, import_file
from peakline_store.open import StoreUrlError, open_store

app = typer.Typer(
    help="Import historical data (meter exports, bills). Dry run unless --commit.",
    no_args_is_help=True,
)
console = Console()
_bar_console = Console(stderr=True)  # the bar never mixes into a --json report on stdout
_PHASES: dict[Phase, str] = {"check": "checking", "plan": "comparing", "write": "writing"}
_COLUMNS = (
    TextColumn("{task.description}"),
    BarColumn(),
    DownloadColumn(),  # bytes of a CSV file (an Excel sheet's rows show as bytes: its count)
    TransferSpeedColumn(),
    TimeRemainingColumn(),
)

StoreOpt = Annotated[
    str,
    typer.Option(
        envvar="PEAKLINE_STORE", help="sqlite:///path.db or http://influx:8086?db=peakline"
    ),
]
SiteOpt = Annotated[str, typer.Option(help="site id")]
DeviceOpt = Annotated[str, typer.Option(help="device id (the meter)")]
PointOpt = Annotated[str, typer.Option(help="the device's point the values stand for")]
FlowOpt = Annotated[str | None, typer.Option(help="energy flow (default: from the point name)")]
TzOpt = Annotated[
    str | None, typer.Option(help="IANA zone of naive local times (an offset in the text wins)")
]
UnitOpt = Annotated[str | None, typer.Option(help="the file's unit (default: from the header)")]
StoredOpt = Annotated[
    str | None, typer.Option("--stored-unit", help="the flow's unit (kWh; m3 for fuel)")
]
ColumnOpt = Annotated[
    list[str] | None, typer.Option("--column", help="role=header, e.g. ts=Date, value=kWh")
]
CommitOpt = Annotated[bool, typer.Option(help="write (default: dry run)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the report as JSON")]


def flow_of(point: str, flow: str | None) -> str:
    """The flow a point feeds: given, else `export`/`pv`/`import` as its name says."""
    if flow:
        return flow
    name = point.lower()
    for word in ("export", "pv", "import"):
        if word in name:
            return word
    raise typer.BadParameter(
        f"cannot tell the flow of point {point!r}: give --flow", param_hint="--flow"
    )


def columns(given: list[str] | None) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for item in given or []:
        role, sep, header = item.partition("=")
        if not sep or not role.strip() or not header.strip():
            raise typer.BadParameter(f"{item!r}: expected role=header", param_hint="--column")
        out[role.strip()] = header.strip()
    return out or None


def stored_unit(flow: str, given: str | None) -> str:
    return given or ("m3" if flow.startswith("fuel:") else "kwh")


@app.command("interval")
def interval_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    store: StoreOpt,
    site: SiteOpt,
    device: DeviceOpt,
    point: PointOpt,
    flow: FlowOpt = None,
    timezone: TzOpt = None,
    unit: UnitOpt = None,
    stored: StoredOpt = None,
    column: ColumnOpt = None,
    kind: Annotated[str, typer.Option(help="interval (energy per interval) or register")] = (
        "interval"
    ),
    label: Annotated[str, typer.Option(help="timestamps mark the interval's start or end")] = (
        "start"
    ),
    interval: Annotated[int | None, typer.Option(help="interval in minutes, to confirm")] = None,
    ts_format: Annotated[str | None, typer.Option(help="strftime format of the times")] = None,
    commit_: Annotated[bool, typer.Option("--commit", help="write (default: dry run)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import an interval export (15-minute or hourly, CSV)."""
    the_flow = flow_of(point, flow)
    if kind not in ("interval", "register") or label not in ("start", "end"):
        raise typer.BadParameter("--kind interval|register, --label start|end")
    spec = IntervalSpec(
        columns=columns(column),
        unit=unit,
        stored_unit=stored_unit(the_flow, stored),
        timezone=timezone,
        ts_format=ts_format,
        kind="interval" if kind == "interval" else "register",
        label="start" if label == "start" else "end",
        interval_s=interval * 60 if interval else None,
    )
    _run("interval", file, store, site, device, the_flow, spec, commit_, as_json)


@app.command("bills")
def bills_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    store: StoreOpt,
    site: SiteOpt,
    device: DeviceOpt,
    point: PointOpt,
    flow: FlowOpt = None,
    timezone: TzOpt = None,
    unit: UnitOpt = None,
    stored: StoredOpt = None,
    column: ColumnOpt = None,
    end_exclusive: Annotated[
        bool, typer.Option(help="a period ends the day before its end date (meter-read dates)")
    ] = False,
    date_format: Annotated[str | None, typer.Option(help="strftime format of dates")] = None,
    commit_: Annotated[bool, typer.Option("--commit", help="write (default: dry run)")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import bills (period start, end, quantity, cost), spread pro rata over days."""
    the_flow = flow_of(point, flow)
    spec = BillSpec(
        columns=columns(column),
        unit=unit,
        stored_unit=stored_unit(the_flow, stored),
        timezone=timezone,
        date_format=date_format,
        end_inclusive=not end_exclusive,
    )
    _run("bills", file, store, site, device, the_flow, spec, commit_, as_json)


app.command("archive")(export_cmd.archive_command)


def _run(
    kind: Literal["interval", "bills"],
    file: Path,
    store_url: str,
    site: str,
    device: str,
    flow: str,
    spec: IntervalSpec | BillSpec,
    do_commit: bool,
    as_json: bool,
) -> None:
    try:
        code = asyncio.run(_go(kind, file, store_url, site, device, flow, spec, do_commit, as_json))
    except (ImportingError, ImportRefused, StoreUrlError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    raise typer.Exit(code)


async def _go(
    kind: Literal["interval", "bills"],
    file: Path,
    store_url: str,
    site: str,
    device: str,
    flow: str,
    spec: IntervalSpec | BillSpec,
    do_commit: bool,
    as_json: bool,
) -> int:
    store = open_store(store_url)
    try:
        with Progress(*_COLUMNS, console=_bar_console, transient=True) as bar:
            tasks: dict[Phase, TaskID] = {}

            def tick(phase: Phase, done: int, size: int) -> None:
                if phase not in tasks:
                    tasks[phase] = bar.add_task(f"{_PHASES[phase]} {file.name}", total=size)
                bar.update(tasks[phase], completed=done)

            plan = await import_file(
                store, kind, file.name, file, site, device, flow, spec,
                write=do_commit, progress=tick,
            )  # fmt: skip
    finally:
        await store.aclose()
    report = plan.summary() | {
        "committed": do_commit,
        "written": plan.written if do_commit else None,
    }
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print(plan, report)
    return 1 if plan.result.errors and not do_commit else 0


def _print(plan: ImportPlan, report: dict[str, object]) -> None:
    span = plan.result.span
    when = "no valid rows" if span is None else f"{_iso(span[0])} to {_iso(span[1])}"
    console.print(
        f"[bold]{plan.file}[/bold] ({plan.kind}) -> site {plan.site}, device "
        f"{plan.device}, flow {plan.flow}"
    )
    console.print(
        f"  rows {plan.result.count}, span {when}, interval "
        f"{plan.result.interval_s} s, total {plan.result.total:,.3f} "
        f"{plan.result.stored_unit} (file in {plan.result.unit})"
    )
    console.print(
        f"  new {plan.n_new}, changed {plan.n_changed}, cleared "
        f"{plan.n_cleared}, relabelled {plan.n_relabelled}, unchanged "
        f"{plan.unchanged}, overlapping live {plan.live}"
    )
    for note in plan.result.notes:
        console.print(f"  note: {note}")
    if plan.committed_before:
        console.print(f"  this file was committed before at {_iso(plan.committed_before[-1])}")
    if plan.result.errors:
        table = Table("line", "column", "expected", "got", title="rows refused")
        for e in plan.result.errors:
            table.add_row(str(e.line), e.column, e.expected, e.got)
        console.print(table)
    if report["committed"]:
        console.print(f"[green]committed[/green]: {report['written']} rows written")
    else:
        console.print("dry run: nothing written (add --commit)")


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%MZ")
