"""`peakline bacnet scan`: a Who-Is broadcast on the subnet (or through a BBMD as a foreign
device), a table of every device that answered (instance, address, vendor, max APDU,
segmentation), and with `-o DIR` one profile per device from the per-device discovery."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from peakline_edge.bacnet.client import AnsweringDevice, BacnetClient
from peakline_edge.bacnet.profile import profile_from_discovery, profile_yaml
from peakline_edge.errors import EdgeError


def device_table(found: list[AnsweringDevice]) -> Table:
    table = Table("instance", "address", "vendor", "max APDU", "segmentation")
    for d in found:
        table.add_row(str(d.instance), d.address, str(d.vendor_id), str(d.max_apdu), d.segmentation)
    return table


async def _scan_and_profile(
    client: BacnetClient,
    low: int | None,
    high: int | None,
    out_dir: Path | None,
    kind: str,
) -> tuple[list[AnsweringDevice], dict[int, str]]:
    """The devices found, and per instance the profile written or the error that stopped it
    (one device failing its discovery does not stop the others)."""
    found = await client.scan(low, high)
    outcome: dict[int, str] = {}
    if out_dir is None:
        return found, outcome
    for d in found:
        name = f"bacnet-{d.instance}"
        try:
            discovered = await client.discover(d.address)
        except EdgeError as exc:
            outcome[d.instance] = f"error: {exc}"
            continue
        path = out_dir / f"{name}.yaml"
        path.write_text(
            profile_yaml(profile_from_discovery(discovered, name, kind), discovered),
            encoding="utf-8",
        )
        outcome[d.instance] = str(path)
    return found, outcome


def scan(
    bind: str = typer.Option(
        ...,
        "--bind",
        help="our address/prefix:port, e.g. 10.10.0.5/24:47808 (the prefix sets the broadcast)",
    ),
    timeout_s: float = typer.Option(3.0, "--timeout", help="seconds to collect I-Ams"),
    low: int | None = typer.Option(None, "--low", help="lowest device instance to ask for"),
    high: int | None = typer.Option(None, "--high", help="highest device instance to ask for"),
    foreign: str | None = typer.Option(
        None, "--foreign", help="register with this BBMD (IP[:port]) as a foreign device"
    ),
    ttl: int = typer.Option(300, "--ttl", help="foreign-device registration time-to-live (s)"),
    out_dir: Path | None = typer.Option(
        None, "-o", "--out-dir", help="write one profile per device found into this folder"
    ),
    kind: str = typer.Option("hvac", "--kind", help="kind of the profiles written with -o"),
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """Who-Is broadcast; list every device that answers (and profile each with -o DIR)."""
    if (low is None) != (high is None):
        raise typer.BadParameter("--low and --high go together")
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)

    async def go() -> tuple[list[AnsweringDevice], dict[int, str]]:
        async with BacnetClient(
            bind, timeout_s=timeout_s, foreign_bbmd=foreign, foreign_ttl_s=ttl
        ) as client:  # as a foreign device, bacpypes3 holds the Who-Is until registered
            return await _scan_and_profile(client, low, high, out_dir, kind)

    try:
        found, outcome = asyncio.run(go())
    except EdgeError as exc:
        typer.echo(f"bacnet scan: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        rows = [dataclasses.asdict(d) | _profile_field(outcome, d) for d in found]
        typer.echo(json.dumps(rows, indent=2))
    else:
        console = Console()
        console.print(device_table(found))
        console.print(f"{len(found)} device(s) answered")
        for instance, what in outcome.items():
            console.print(f"device {instance}: {what}")
    if any(what.startswith("error:") for what in outcome.values()):
        raise typer.Exit(1)


def _profile_field(outcome: dict[int, str], d: AnsweringDevice) -> dict[str, str]:
    return {"profile": outcome[d.instance]} if d.instance in outcome else {}
