"""The `peakline` command: one entry point for operators and developers.

Sub-commands are registered explicitly here (no discovery by name).
"""

from __future__ import annotations

import typer

from peakline_cli import anomaly_cmd, config_cmd, export_cmd, import_cmd, provision
from peakline_cli.demo import demo_command
from peakline_edge.bacnet.cli import app as bacnet_app
from peakline_edge.sunspec.cli import app as sunspec_app

app = typer.Typer(
    name="peakline",
    help="peakline: measure, understand and cut the emissions of a city's buildings and grid.",
    no_args_is_help=True,
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(anomaly_cmd.app, name="anomaly")
app.add_typer(bacnet_app, name="bacnet")
app.add_typer(sunspec_app, name="sunspec")
app.add_typer(import_cmd.app, name="import")
app.command("export")(export_cmd.export_command)
app.command("demo")(demo_command)
app.command("provision")(provision.provision_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
