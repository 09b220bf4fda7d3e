"""`peakline-ingest run`: the ingest worker's command line."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import structlog
import typer

from peakline_core.config import load_config
from peakline_core.errors import ConfigError
from peakline_core.wire import Topics
from peakline_ingest.derive import Deriver, DeriveSettings
from peakline_ingest.gctune import tune_for_throughput
from peakline_ingest.pipeline import BatchPolicy
from peakline_ingest.processors_anomaly import AnomalyProcessor
from peakline_ingest.service import IngestConfigError, IngestService, IngestSettings
from peakline_ingest.validate import DeviceIdentity, Limits
from peakline_store.influx import InfluxStore
from peakline_store.open import StoreUrlError, open_store
from peakline_store.sqlite import SqliteStore

app = typer.Typer(add_completion=False, help="peakline ingest: MQTT telemetry to the store.")
log = structlog.get_logger("peakline.ingest")


@app.callback()
def _root() -> None:
    """peakline ingest worker."""


@app.command()
def run(
    broker: Annotated[
        str, typer.Option(help="mqtt://host:port or mqtts://host:8883 (TLS)")
    ] = "mqtt://127.0.0.1:1883",
    store: Annotated[
        str,
        typer.Option(
            envvar="PEAKLINE_STORE",  # keeps a token out of the command line (`ps`)
            help="sqlite:///path.db or http://host:8086?db=peakline[&token=...]",
        ),
    ] = "sqlite:///var/lib/peakline/store.db",
    config: Annotated[Path | None, typer.Option(help="config dir: reject unknown devices")] = None,
    topic_prefix: Annotated[str, typer.Option()] = "peakline",
    group: Annotated[str, typer.Option(help="shared subscription group; '' for none")] = "ingest",
    client_id: Annotated[str, typer.Option(help="stable per worker")] = "peakline-ingest-1",
    username: Annotated[str | None, typer.Option(envvar="PEAKLINE_MQTT_USERNAME")] = None,
    password: Annotated[str | None, typer.Option(envvar="PEAKLINE_MQTT_PASSWORD")] = None,
    password_file: Annotated[
        Path | None, typer.Option(envvar="PEAKLINE_MQTT_PASSWORD_FILE", help="wins over --password")
    ] = None,
    ca_file: Annotated[
        Path | None, typer.Option(envvar="PEAKLINE_MQTT_CA_FILE", help="mqtts: the broker's CA")
    ] = None,
    cert_file: Annotated[
        Path | None, typer.Option(envvar="PEAKLINE_MQTT_CERT_FILE", help="mqtts: client cert")
    ] = None,
    key_file: Annotated[
        Path | None, typer.Option(envvar="PEAKLINE_MQTT_KEY_FILE", help="mqtts: client key")
    ] = None,
    mqtt_protocol: Annotated[
        str, typer.Option(help="'5' or '3.1.1' (3.1.1 needs --group '')")
    ] = "5",
    state_dir: Annotated[Path, typer.Option(help="parked dead letters, anomaly state")] = Path(
        "/var/lib/peakline/ingest"
    ),
    health_port: Annotated[int | None, typer.Option(help="/healthz /readyz /metrics")] = None,
    max_in_flight: Annotated[int, typer.Option()] = 2000,
    batch_readings: Annotated[int, typer.Option()] = 10_000,
    batch_delay_s: Annotated[float, typer.Option()] = 0.2,
    writes_in_flight: Annotated[int, typer.Option()] = 4,
    max_future_s: Annotated[float, typer.Option()] = 300.0,
    max_past_s: Annotated[float, typer.Option()] = 90 * 86400.0,
    create_database: Annotated[bool, typer.Option(help="CREATE DATABASE on start")] = False,
    retention: Annotated[str | None, typer.Option(help="with --create-database, e.g. 90d")] = None,
    derive: Annotated[
        bool,
        typer.Option(
            help="run the deriver in this worker (energy, emissions, roll-ups, anomaly scores"
            " from the stored readings); with several workers, in one of them"
        ),
    ] = True,
    anomaly: Annotated[
        bool, typer.Option(help="the deriver scores readings; state kept in --state-dir")
    ] = True,
    energy: Annotated[
        bool, typer.Option(help="the deriver derives energy and emissions (needs --config)")
    ] = True,
    lateness_s: Annotated[
        float, typer.Option(help="how long the deriver waits for readings to be stored")
    ] = 10.0,
    derive_from: Annotated[
        str | None,
        typer.Option(
            help="with no checkpoint in --state-dir, begin deriving at this UTC time (ISO"
            " 8601, e.g. 2026-01-01T00:00Z) instead of an hour back: derive and score a"
            " history that is already stored"
        ),
    ] = None,
    restart_guard: Annotated[
        bool, typer.Option(help="with --group: recover what mosquitto 2.0 drops on restart")
    ] = True,
) -> None:
    """Consume telemetry (and grid carbon intensity) and store it; SIGTERM/SIGINT flush and exit."""
    if mqtt_protocol not in ("5", "3.1.1"):
        typer.echo(f"--mqtt-protocol must be '5' or '3.1.1', not {mqtt_protocol!r}", err=True)
        raise typer.Exit(2)
    devices = None
    regions = None
    platform = None
    if config is not None:
        try:
            platform = load_config(config)
        except ConfigError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from None
        devices = {d.id: DeviceIdentity(d.site, d.agent) for d in platform.devices.values()}
        regions = {s.grid_region for s in platform.sites.values()}
    settings = IngestSettings(
        broker_url=broker,
        username=username,
        password=password,
        password_file=password_file,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        mqtt_protocol="3.1.1" if mqtt_protocol == "3.1.1" else "5",
        topic_prefix=topic_prefix,
        share_group=group or None,
        client_id=client_id,
        max_in_flight=max_in_flight,
        policy=BatchPolicy(
            batch_readings=batch_readings,
            batch_delay_s=batch_delay_s,
            writes_in_flight=writes_in_flight,
        ),
        limits=Limits(max_future_s=max_future_s, max_past_s=max_past_s),
        state_dir=state_dir,
        health_port=health_port,
        restart_guard=restart_guard,
        lateness_s=lateness_s,
    )
    try:
        opened = open_store(store)
    except StoreUrlError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    deriver = None
    if derive:
        scorer = (
            AnomalyProcessor.restore(Topics(topic_prefix), state_dir / "anomaly", platform)
            if anomaly
            else None
        )
        settings_d = DeriveSettings(lateness_s=lateness_s)
        if platform is not None:
            deriver = Deriver.from_config(
                opened, platform, settings_d, state_dir / "derive", scorer, energy=energy
            )
        else:
            deriver = Deriver(opened, [], {}, None, settings_d, state_dir / "derive", scorer)
    if derive_from is not None:
        try:
            at = datetime.fromisoformat(derive_from.replace("Z", "+00:00"))
        except ValueError:
            typer.echo(f"--derive-from: not an ISO 8601 time: {derive_from[:64]!r}", err=True)
            raise typer.Exit(2) from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        if deriver is not None:
            deriver.start_at(int(at.timestamp()) * 1_000_000_000)
    try:
        tune_for_throughput()  # after start-up allocations: see gctune.py
        asyncio.run(_serve(settings, opened, devices, regions, create_database, retention, deriver))
    except IngestConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


async def _serve(
    settings: IngestSettings,
    store: InfluxStore | SqliteStore,
    devices: dict[str, DeviceIdentity] | None,
    regions: set[str] | None,
    create_database: bool,
    retention: str | None,
    deriver: Deriver | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if create_database and isinstance(store, InfluxStore):
            await store.ensure_database(retention)
        await IngestService(settings, store, devices, deriver=deriver, grid_regions=regions).run(
            stop
        )
    finally:
        await store.aclose()


def main() -> None:
    app()
