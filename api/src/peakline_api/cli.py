"""`peakline-api`: run the API, and create, list and revoke API keys."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import structlog
import typer

from peakline_api.keys import ALL_CITIES, KeyStore, KeyStoreError, Role

app = typer.Typer(help="peakline control API and dashboard", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (stored hashed)", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

KeysDb = Annotated[
    Path,
    typer.Option("--keys-db", envvar="PEAKLINE_API_KEYS_DB", help="SQLite file holding the keys"),
]
_DEFAULT_KEYS = Path("var/api-keys.db")


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
    smtp: str | None,
    smtp_from: str,
    smtp_username: str | None,
    smtp_password_file: Path | None,
) -> dict[str, str]:
    extra = {"alerts": "on" if alerts else "off"}
    if smtp:
        host, _, port = smtp.partition(":")
        extra |= {"smtp_host": host, "smtp_port": port or "587", "smtp_from": smtp_from}
        if smtp_username:
            extra["smtp_username"] = smtp_username
        if smtp_password_file:
            extra["smtp_password_file"] = str(smtp_password_file)
    return extra


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
    smtp: Annotated[
        str | None,
        typer.Option(envvar="PEAKLINE_SMTP", help="SMTP server for email alerts: host[:port]"),
    ] = None,
    smtp_from: Annotated[str, typer.Option(envvar="PEAKLINE_SMTP_FROM")] = "peakline@localhost",
    smtp_username: Annotated[str | None, typer.Option(envvar="PEAKLINE_SMTP_USERNAME")] = None,
    smtp_password_file: Annotated[
        Path | None, typer.Option(envvar="PEAKLINE_SMTP_PASSWORD_FILE")
    ] = None,
    ssl_certfile: Annotated[
        Path | None, typer.Option(envvar="PEAKLINE_API_TLS_CERT", help="serve HTTPS: certificate")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(envvar="PEAKLINE_API_TLS_KEY", help="serve HTTPS: private key")
    ] = None,
) -> None:
    """Serve the API and the dashboard."""
    import uvicorn

    from peakline_api.app import create_app
    from peakline_api.settings import ApiSettings

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
        extra=_alert_settings(alerts, smtp, smtp_from, smtp_username, smtp_password_file),
    )
    if (ssl_certfile is None) != (ssl_keyfile is None):
        typer.echo("error: --ssl-certfile and --ssl-keyfile go together", err=True)
        raise typer.Exit(2)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        ssl_certfile=str(ssl_certfile) if ssl_certfile else None,
        ssl_keyfile=str(ssl_keyfile) if ssl_keyfile else None,
    )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="who or what uses the key")],
    role: Annotated[str, typer.Option(help="viewer, operator or admin")] = "viewer",
    city: Annotated[
        list[str] | None, typer.Option(help=f"city id in scope (repeatable), or '{ALL_CITIES}'")
    ] = None,
    keys_db: KeysDb = _DEFAULT_KEYS,
) -> None:
    """Create a key and print its secret once (it is stored hashed and cannot be shown again)."""
    try:
        with KeyStore(keys_db) as keys:
            record, token = keys.create(name, Role.parse(role), list(city or []))
    except KeyStoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"created key {record.id} ({record.role.name.lower()}, cities: "
        f"{','.join(record.cities)}); the secret is shown only now:",
        err=True,
    )
    typer.echo(token)


@keys_app.command("revoke")
def keys_revoke(key_id: str, keys_db: KeysDb = _DEFAULT_KEYS) -> None:
    """Revoke a key by id; it stops working on the next request."""
    try:
        with KeyStore(keys_db) as keys:
            keys.revoke(key_id)
    except KeyStoreError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"revoked {key_id}")


@keys_app.command("list")
def keys_list(keys_db: KeysDb = _DEFAULT_KEYS) -> None:
    """List keys (never their secrets)."""
    with KeyStore(keys_db) as keys:
        for k in keys.list():
            state = "revoked" if k.revoked_at else "active"
            typer.echo(f"{k.id}\t{k.role.name.lower()}\t{','.join(k.cities)}\t{state}\t{k.name}")


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
