"""`firmware-sim SCENARIO.yaml`: serve a scenario and print where each device listens."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import typer
from pydantic import ValidationError

from firmware_sim.errors import ServeError
from firmware_sim.mqtt import MqttLogin
from firmware_sim.profiles import load_profiles
from firmware_sim.runtime import run
from firmware_sim.scenario import Scenario

app = typer.Typer(add_completion=False, help="Simulated Modbus and MQTT devices.")


@app.command()
def serve(
    scenario: Path = typer.Argument(..., help="scenario YAML (config/scenarios/*.yaml)"),
    profiles: Path = typer.Option(Path("config/profiles"), help="device profiles directory"),
    mqtt: str | None = typer.Option(None, help="mqtt://host:port for the MQTT sensors"),
    mqtt_username: str | None = typer.Option(
        None, envvar="PEAKLINE_MQTT_USERNAME", help="broker login of the MQTT sensors"
    ),
    mqtt_password_file: Path | None = typer.Option(
        None, envvar="PEAKLINE_MQTT_PASSWORD_FILE", help="file holding that login's password"
    ),
    speed: float | None = typer.Option(None, help="override the scenario's time acceleration"),
    seed: int | None = typer.Option(None, help="override the scenario's seed"),
    start: str | None = typer.Option(
        None, help="override the scenario's start: an ISO 8601 instant, or 'now' to run live"
    ),
    ground_truth: Path | None = typer.Option(None, help="write injected faults here on exit"),
) -> None:
    """Run SCENARIO until interrupted."""
    sc = Scenario.from_yaml(scenario)
    if speed is not None:
        sc.speed = speed
    if seed is not None:
        sc.seed = seed
    if start is not None:
        try:
            sc = Scenario.model_validate(sc.model_dump(by_alias=True) | {"start": _instant(start)})
        except (ValueError, ValidationError) as exc:
            raise typer.BadParameter(str(exc).splitlines()[-1], param_hint="--start") from None
    login = None
    if mqtt_username:
        try:
            login = MqttLogin.from_file(mqtt_username, mqtt_password_file)
        except ServeError as exc:
            raise typer.BadParameter(str(exc), param_hint="--mqtt-password-file") from None

    async def main() -> None:
        async with run(sc, load_profiles(profiles), mqtt_url=mqtt, mqtt_login=login) as sim:
            for ep in sim.endpoints.values():
                typer.echo(ep.describe())
            typer.echo(f"serving {len(sim.endpoints)} devices; Ctrl-C to stop", err=True)
            try:
                await asyncio.Event().wait()
            finally:
                if ground_truth is not None:
                    sim.write_ground_truth(ground_truth)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


def _instant(text: str) -> datetime:
    if text == "now":
        return datetime.now(UTC).replace(microsecond=0)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def main() -> None:
    app()
