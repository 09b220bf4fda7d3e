"""`peakline config`: check a configuration directory, regenerate its JSON Schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from peakline_cli.reference import render_reference
from peakline_core.config import load_config
from peakline_core.config.schema import config_schemas, render
from peakline_core.errors import ConfigError

app = typer.Typer(help="Validate configuration and generate its JSON Schema.", no_args_is_help=True)


@app.command("check")
def check(
    path: Annotated[Path, typer.Argument(help="configuration directory")] = Path("config"),
) -> None:
    """Validate a configuration directory; exit 1 listing file, path and problem for each."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        typer.echo(f"{path}: {len(exc.issues)} problem(s)", err=True)
        for file, where, message in exc.issues:
            typer.echo(f"  {file}: {where or '<root>'}: {message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"{path}: ok - {len(config.programme.cities)} cities, {len(config.sites)} sites, "
        f"{len(config.devices)} devices, {len(config.agents)} agents, "
        f"{len(config.profiles)} profiles, {len(config.factor_sets)} emission factor sets"
    )


@app.command("schema")
def schema(
    out: Annotated[Path, typer.Option(help="directory to write *.schema.json into")] = Path(
        "config/schema"
    ),
) -> None:
    """Write the JSON Schema of every configuration file kind."""
    out.mkdir(parents=True, exist_ok=True)
    for name, body in config_schemas().items():
        (out / name).write_text(render(body), encoding="utf-8")
        typer.echo(f"wrote {out / name}")


@app.command("reference")
def reference(
    out: Annotated[Path, typer.Option(help="Markdown file to write")] = Path(
        "docs/configuration.md"
    ),
) -> None:
    """Write the configuration reference generated from the models."""
    out.write_text(render_reference(), encoding="utf-8")
    typer.echo(f"wrote {out}")
