"""`peakline bacnet discover --address HOST --bind ADDR -o profile.yaml` and `peakline bacnet
scan` (peakline_edge.bacnet.scan)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer

from peakline_edge.bacnet.client import BacnetClient
from peakline_edge.bacnet.profile import profile_from_discovery, profile_yaml
from peakline_edge.bacnet.scan import scan
from peakline_edge.errors import EdgeError

app = typer.Typer(add_completion=False, help="BACnet/IP tools for installers")


@app.callback()
def _root() -> None:
    """BACnet/IP tools for installers."""


app.command()(scan)


@app.command()
def discover(
    address: str = typer.Option(..., "--address", help="the device's IP address"),
    bind: str = typer.Option(
        "0.0.0.0/0:47809", "--bind", help="our address/prefix:port (not the device's port on 127/8)"
    ),
    name: str = typer.Option("bacnet-device", "--name", help="profile name"),
    kind: str = typer.Option("hvac", "--kind", help="meter, hvac, ..."),
    out: Path = typer.Option(..., "-o", "--out", help="profile YAML to write"),
    timeout_s: float = typer.Option(3.0, "--timeout"),
    foreign: str | None = typer.Option(
        None, "--foreign", help="register with this BBMD (IP[:port]) as a foreign device"
    ),
    ttl: int = typer.Option(300, "--ttl", help="foreign-device registration time-to-live (s)"),
) -> None:
    """Who-Is the device, read its objects and write a profile for review."""

    async def go() -> str:
        async with BacnetClient(
            bind, timeout_s=timeout_s, foreign_bbmd=foreign, foreign_ttl_s=ttl
        ) as client:
            found = await client.discover(address)
        return profile_yaml(profile_from_discovery(found, name, kind), found)

    try:
        text = asyncio.run(go())
    except EdgeError as exc:
        typer.echo(f"bacnet discover: {exc}", err=True)
        raise typer.Exit(1) from None
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")
