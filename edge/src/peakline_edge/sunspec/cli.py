"""`peakline sunspec scan (--host H [--port P] [--rtu-over-tcp] | --serial DEV) -o profile.yaml`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Literal, cast

import typer
from pydantic import ValidationError

from peakline_core.config.platform import (
    ModbusConnection,
    ModbusRtu,
    ModbusRtuOverTcp,
    ModbusTcp,
)
from peakline_edge.bus import ModbusBus
from peakline_edge.errors import EdgeError
from peakline_edge.sunspec.profile import profile_from_chain, profile_yaml
from peakline_edge.sunspec.scan import scan as scan_device

app = typer.Typer(add_completion=False, help="SunSpec tools for installers")


@app.callback()
def _root() -> None:
    """SunSpec tools for installers."""


def connection_of(
    host: str | None,
    port: int,
    serial: str | None,
    rtu_over_tcp: bool,
    unit_id: int,
    baudrate: int,
    parity: Literal["N", "E", "O"],
    timeout_s: float,
) -> ModbusConnection:
    """The connection the scan talks over, checked like a devices.yaml entry."""
    if (host is None) == (serial is None):
        raise typer.BadParameter("give --host (TCP, RTU over TCP) or --serial (RTU), not both")
    common = {"unit_id": unit_id, "timeout_s": timeout_s, "retries": 0}
    if serial is not None:
        return ModbusRtu(
            driver="modbus-rtu", port=serial, baudrate=baudrate, parity=parity, **common
        )
    if rtu_over_tcp:
        return ModbusRtuOverTcp(driver="modbus-rtu-over-tcp", host=host or "", port=port, **common)
    return ModbusTcp(driver="modbus-tcp", host=host or "", port=port, **common)


@app.command()
def scan(
    out: Path = typer.Option(..., "-o", "--out", help="profile YAML to write"),
    host: str | None = typer.Option(None, "--host", help="Modbus TCP host (or converter)"),
    port: int = typer.Option(502, "--port"),
    rtu_over_tcp: bool = typer.Option(
        False, "--rtu-over-tcp", help="RTU frames over TCP (a transparent serial converter)"
    ),
    serial: str | None = typer.Option(None, "--serial", help="serial device for Modbus RTU"),
    baudrate: int = typer.Option(9600, "--baudrate"),
    parity: str = typer.Option("N", "--parity", help="N, E or O"),
    unit_id: int = typer.Option(1, "--unit", help="Modbus unit id"),
    base: int | None = typer.Option(None, "--base", help="base address (default 40000, 0, 50000)"),
    name: str | None = typer.Option(None, "--name", help="profile name (default from model 1)"),
    kind: str | None = typer.Option(None, "--kind", help="profile kind (default from the models)"),
    read_only: bool = typer.Option(
        False, "--read-only", help="no writable points: a read-only profile"
    ),
    timeout_s: float = typer.Option(2.0, "--timeout"),
) -> None:
    """Walk the device's SunSpec model chain and write a profile for review."""
    if parity not in ("N", "E", "O"):
        raise typer.BadParameter("--parity is N, E or O")
    try:
        connection = connection_of(
            host,
            port,
            serial,
            rtu_over_tcp,
            unit_id,
            baudrate,
            cast(Literal["N", "E", "O"], parity),
            timeout_s,
        )
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from None
    source = f"{connection.driver} {serial or f'{host}:{port}'} unit {unit_id}"

    async def go() -> str:
        async with ModbusBus(connection) as bus:
            found = await scan_device(bus, unit_id, base)
        profile, report = profile_from_chain(
            found.base, found.models, name=name, kind=kind, writable=not read_only
        )
        return profile_yaml(profile, report, source)

    try:
        text = asyncio.run(go())
    except (EdgeError, ValidationError) as exc:
        typer.echo(f"sunspec scan: {exc}", err=True)
        raise typer.Exit(1) from None
    out.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {out}")
