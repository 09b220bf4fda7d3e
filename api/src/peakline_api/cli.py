"""`peakline-api`: run the API, and create, list and revoke API keys."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import structlog
import typer

from peakline_api.keys import ALL_CITIES, KeyStore, KeyStoreError, Role
from peakline_api.settings import AlertSettings, ApiSettings, SmtpSettings
from peakline_api.statedb import StateError, open_postgres

if TYPE_CHECKING:
    from fastapi import FastAPI

app = typer.Typer(help="peakline control API and dashboard", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (stored hashed)", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

KeysDb = Annotated[
    Path,
    typer.Option("--keys-db", envvar="PEAKLINE_API_KEYS_DB", help="SQLite file holding the keys"),
]
_DEFAULT_KEYS = Path("var/api-keys.db")
StateUrl = Annotated[
    str | None,
    typer.Option(
        "--state-url",
        envvar="PEAKLINE_STATE_URL",
        help="postgresql://user@host:port/db: keys, ledger, retrofits and alerts shared by"
        " replicas (none: SQLite files beside --keys-db)",
    ),
]
StatePasswordFile = Annotated[
    Path | None,
    typer.Option(
        envvar="PEAKLINE_STATE_PASSWORD_FILE", help="file holding the PostgreSQL password"
    ),
]
_WORKER_SETTINGS = "PEAKLINE_API_WORKER_SETTINGS"
"""How `run --workers N` hands its settings to the worker processes uvicorn spawns."""


def settings_to_env(settings: ApiSettings) -> str:
    from pydantic import TypeAdapter

    return TypeAdapter(ApiSettings).dump_json(settings).decode()


def settings_from_env(text: str) -> ApiSettings:
    from pydantic import TypeAdapter

    return TypeAdapter(ApiSettings).validate_json(text)


def worker_app() -> FastAPI:
    """The app of one `run --workers N` worker (uvicorn's factory, in a spawned process)."""
    from peakline_api.app import create_app

    settings = settings_from_env(os.environ[_WORKER_SETTINGS])
    configure_logging(settings.json_logs)
    return create_app(settings)


@contextmanager
def _key_store(
    keys_db: Path, state_url: str | None, password_file: Path | None
) -> Iterator[KeyStore]:
    """The keys where `run` keeps them: PostgreSQL when a state URL is given, else the file."""
    if state_url is None:
        with KeyStore(keys_db) as keys:
            yield keys
        return
    with open_postgres(state_url, password_file) as db, KeyStore(db) as keys:
        yield keys


def configure_logging(json_logs: bool) -> None:
    """structlog to stderr: JSON lines in production, readable lines on a terminal."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    renderer = structlog.processors.JSONRenderer() if json_logs else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
    )


def _alert_settings(
    alerts: bool,
    interval_s: float,
    smtp: str | None,
    smtp_from: str,
    smtp_username: str | None,
    smtp_password_file: Path | None,
    smtp_ca_file: Path | None,
) -> AlertSettings:
    relay = None
    if smtp:
        host, _, port = smtp.partition(":")
        relay = SmtpSettings(
            host,
            int(port or 587),
            smtp_from,
            username=smtp_username,
            password_file=smtp_password_file,
            ca_file=smtp_ca_file,
        )
    return AlertSettings(enabled=alerts, interval_s=interval_s, smtp=relay)


@app.command()
def run(
    config: Annotated[Path, typer.Option(envvar="PEAKLINE_CONFIG", help="config directory")] = Path(
        "config"
    ),
    store: Annotated[
        str,
        typer.Option(envvar="PEAKLINE_STORE", help="sqlite:///path.db or http://influx:8086?db=x"),
    ] = "sqlite:///var/peakline.db",
    broker: Annotated[
        str | None, typer.Option(envvar="PEAKLINE_BROKER", help="mqtt://host:port (none: no live)")
    ] = None,
    broker_username: Annotated[
        str | None, typer.Option(envvar="PEAKLINE_MQTT_USERNAME", help="broker login")
    ] = None,
    broker_password_file: Annotated[
        Path | None,
        typer.Option(envvar="PEAKLINE_MQTT_PASSWORD_FILE", help="file holding the broker password"),
    ] = None,
    broker_ca_file: Annotated[
        Path | None, typer.Option(envvar="PEAKLINE_MQTT_CA_FILE", help="CA for mqtts:// brokers")
    ] = None,
    topic_prefix: Annotated[str, typer.Option(envvar="PEAKLINE_TOPIC_PREFIX")] = "peakline",
    keys_db: KeysDb = _DEFAULT_KEYS,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    cors_origin: Annotated[
        list[str] | None, typer.Option(help="allowed CORS origin (repeatable); off by default")
    ] = None,
    json_logs: Annotated[bool, typer.Option(help="JSON log lines")] = True,
    latest_cache_s: Annotated[
        float, typer.Option(help="reuse latest-readings answers this long (s); 0: off")
    ] = 1.0,
    private_ops: Annotated[
        bool,
        typer.Option(
            envvar="PEAKLINE_API_PRIVATE_OPS",
            help="/ready and /metrics need an API key, /docs off (/health stays open)",
        ),
    ] = False,
    alerts: Annotated[
        bool,
        typer.Option(
            envvar="PEAKLINE_ALERTS",
            help="run the alert evaluator and sender here (in exactly one API process)",
        ),
    ] = False,
    alerts_interval_s: Annotated[
        float,
        typer.Option(
            min=0.05, envvar="PEAKLINE_ALERTS_INTERVAL_S", help="seconds between evaluator passes"
        ),
    ] = 60.0,
    smtp: Annotated[
        str | None,
        typer.Option(envvar="PEAKLINE_SMTP", help="SMTP server for email alerts: host[:port]"),
    ] = None,
    smtp_from: Annotated[str, typer.Option(envvar="PEAKLINE_SMTP_FROM")] = "peakline@localhost",
    smtp_username: Annotated[str | None, typer.Option(envvar="PEAKLINE_SMTP_USERNAME")] = None,
    smtp_password_file: Annotated[
        Path | None, typer.Option(envvar="PEAKLINE_SMTP_PASSWORD_FILE")
    ] = None,
    smtp_ca_file: Annotated[
        Path | None,
        typer.Option(envvar="PEAKLINE_SMTP_CA_FILE", help="CA bundle for the relay's STARTTLS"),
    ] = None,
    ssl_certfile: Annotated[
        Path | None, typer.Option(envvar="PEAKLINE_API_TLS_CERT", help="serve HTTPS: certificate")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(envvar="PEAKLINE_API_TLS_KEY", help="serve HTTPS: private key")
    ] = None,
    state_url: StateUrl = None,
    state_password_file: StatePasswordFile = None,
    workers: Annotated[
        int,
        typer.Option(
            envvar="PEAKLINE_API_WORKERS",
            min=1,
            help="worker processes on this port (uvicorn); one sweeper, DR scheduler and alert"
            " evaluator across them (database leases)",
        ),
    ] = 1,
    lease_s: Annotated[
        float,
        typer.Option(
            envvar="PEAKLINE_API_LEASE_S",
            min=1.0,
            help="sweeper and DR scheduler lease (s): a replica that dies is replaced after this",
        ),
    ] = 15.0,
) -> None:
    """Serve the API and the dashboard."""
    import uvicorn

    from peakline_api.app import create_app

    configure_logging(json_logs)
    settings = ApiSettings(
        config_dir=config,
        store_url=store,
        keys_db=keys_db,
        broker_url=broker,
        broker_username=broker_username,
        broker_password_file=broker_password_file,
        broker_ca_file=broker_ca_file,
        topic_prefix=topic_prefix,
        cors_origins=tuple(cors_origin or ()),
        latest_cache_s=latest_cache_s,
        private_ops=private_ops,
        alerts=_alert_settings(
            alerts,
            alerts_interval_s,
            smtp,
            smtp_from,
            smtp_username,
            smtp_password_file,
            smtp_ca_file,
        ),
        workers=workers,
        json_logs=json_logs,
        state_url=state_url,
        state_password_file=state_password_file,
        lease_s=lease_s,
    )
    if (ssl_certfile is None) != (ssl_keyfile is None):
        typer.echo("error: --ssl-certfile and --ssl-keyfile go together", err=True)
        raise typer.Exit(2)
    cert = str(ssl_certfile) if ssl_certfile else None
    key = str(ssl_keyfile) if ssl_keyfile else None
    if workers == 1:
        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            access_log=False,
            log_config=None,
            ssl_certfile=cert,
            ssl_keyfile=key,
        )
        return
    # uvicorn spawns the workers and imports the app in each: the factory reads the settings
    # from the environment the workers inherit.
    os.environ[_WORKER_SETTINGS] = settings_to_env(settings)
    uvicorn.run(
        "peakline_api.cli:worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        ssl_certfile=cert,
        ssl_keyfile=key,
        # a worker answers the supervisor's pings only once spawned and imported: on a busy
        # machine that takes longer than uvicorn's default 5 s, and it would be killed
        timeout_worker_healthcheck=60,
    )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="who or what uses the key")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin")] = "viewer",
    city: Annotated[
        list[str] | None, typer.Option(help=f"city id in scope (repeatable), or '{ALL_CITIES}'")
    ] = None,
    keys_db: KeysDb = _DEFAULT_KEYS,
    state_url: StateUrl = None,
    state_password_file: StatePasswordFile = None,
) -> None:
    """Create a key and print its secret once (it is stored hashed and cannot be shown again)."""
    try:
        with _key_store(keys_db, state_url, state_password_file) as keys:
            record, token = keys.create(name, Role.parse(role), list(city or []))
    except (KeyStoreError, StateError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"created key {record.id} ({record.role.name.lower()}, cities: "
        f"{','.join(record.cities)}); the secret is shown only now:",
        err=True,
    )
    typer.echo(token)


@keys_app.command("revoke")
def keys_revoke(
    key_id: str,
    keys_db: KeysDb = _DEFAULT_KEYS,
    state_url: StateUrl = None,
    state_password_file: StatePasswordFile = None,
) -> None:
    """Revoke a key by id; it stops working on the next request."""
    try:
        with _key_store(keys_db, state_url, state_password_file) as keys:
            keys.revoke(key_id)
    except (KeyStoreError, StateError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"revoked {key_id}")


@keys_app.command("list")
def keys_list(
    keys_db: KeysDb = _DEFAULT_KEYS,
    state_url: StateUrl = None,
    state_password_file: StatePasswordFile = None,
) -> None:
    """List keys (never their secrets)."""
    try:
        with _key_store(keys_db, state_url, state_password_file) as keys:
            listed = keys.list()
    except (KeyStoreError, StateError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for k in listed:
        state = "revoked" if k.revoked_at else "active"
        typer.echo(f"{k.id}\t{k.role.name.lower()}\t{','.join(k.cities)}\t{state}\t{k.name}")


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
