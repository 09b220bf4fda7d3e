"""`peakline provision`: broker credentials, ACLs and operator API keys from the configuration.

The MQTT identity is the edge agent (one gateway), not the device: a gateway owns several
devices and holds one password. Its ACL grants exactly

    write  {prefix}/v1/tele|status|ack/{site}/{device}   for each of its own devices
    write  {prefix}/v1/agent/{agent}                     its birth / last will
    read   {prefix}/v1/cmd/{site}/{device}               commands to its own devices only
    read   <sensor topic>                                local MQTT sensors it listens to

and nothing else (mosquitto denies whatever the ACL file does not grant), so a gateway of one
city can never publish or read another city's topics. Service accounts (ingest, API) get the
platform-side rights. Secrets are kept in `<out>/passwords/` (mode 0600) and reused on the next
run, so re-provisioning after adding a device changes the ACL, not the passwords (`--rotate`
issues new ones). The mosquitto password file uses its `$7$` PBKDF2-SHA512 format.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from peakline_cli.errors import CliError
from peakline_core.config import PlatformConfig, load_config
from peakline_core.config.platform import MqttSource
from peakline_core.errors import ConfigError
from peakline_core.wire.ids import is_valid_id
from peakline_core.wire.topics import TOPIC_VERSION, Topics

PBKDF2_ITERATIONS = 1000
"""mosquitto's own tool uses 101 (2.0) or 1000 (2.1); each broker login costs one derivation."""

INGEST_USER = "svc-ingest"
API_USER = "svc-api"
SENSOR_PREFIX = "sensor-"
RESERVED_PREFIXES = ("peakline-", "svc-")
"""Device logins double as client ids (`use_username_as_clientid`): none may start like a
service's client id (`peakline-ingest-1`, `peakline-api-...`) or a service login."""


class ProvisionError(CliError):
    """The configuration cannot be turned into broker accounts (e.g. two accounts collide)."""


class Access(StrEnum):
    READ = "read"
    WRITE = "write"


@dataclass(frozen=True, slots=True)
class AclRule:
    access: Access
    topic: str


@dataclass(frozen=True, slots=True)
class MqttAccount:
    """One broker login and what it may do. `kind` is gateway, service or sensor."""

    username: str
    kind: str
    rules: tuple[AclRule, ...]
    devices: tuple[str, ...] = ()


def _check_topic(topic: str) -> str:
    if not topic or any(c.isspace() or c == "\0" for c in topic):
        raise ProvisionError(f"topic {topic!r} cannot be written into an ACL file")
    return topic


def check_sensor_topics(config: PlatformConfig) -> None:
    """A local sensor topic is granted as written, so it must be one exact topic (no `+` or
    `#`, not `$SYS`), outside every platform prefix (else a sensor login could publish
    telemetry or commands), and not shared by devices of two cities."""
    roots = {Topics(a.uplink.topic_prefix).prefix for a in config.agents.values()}
    city_of: dict[str, str] = {}
    for dev in sorted(config.devices.values(), key=lambda d: d.id):
        conn = dev.connection
        if not (isinstance(conn, MqttSource) and conn.broker is None):
            continue
        topic = _check_topic(conn.topic)
        where = f"device {dev.id}: sensor topic {topic!r}"
        if "+" in topic or "#" in topic or topic.startswith("$"):
            raise ProvisionError(f"{where} must be one topic, without + # or $")
        if any(topic == root or topic.startswith(root + "/") for root in roots):
            raise ProvisionError(f"{where} is under the platform prefix")
        city = config.sites[dev.site].city if dev.site in config.sites else dev.site
        if city_of.setdefault(topic, city) != city:
            raise ProvisionError(f"{where} is also another city's ({city_of[topic]})")


def gateway_account(config: PlatformConfig, agent_id: str) -> MqttAccount:
    """The account of one edge agent: its own devices' topics and nothing else."""
    agent = config.agents[agent_id]
    topics = Topics(agent.uplink.topic_prefix)
    rules = [AclRule(Access.WRITE, topics.agent(agent.id))]
    devices = sorted(config.devices_of(agent.id), key=lambda d: (d.site, d.id))
    for dev in devices:
        rules += [
            AclRule(Access.WRITE, topics.telemetry(dev.site, dev.id)),
            AclRule(Access.WRITE, topics.status(dev.site, dev.id)),
            AclRule(Access.WRITE, topics.ack(dev.site, dev.id)),
            AclRule(Access.READ, topics.command(dev.site, dev.id)),
        ]
        conn = dev.connection
        if isinstance(conn, MqttSource) and conn.broker is None:
            rules.append(AclRule(Access.READ, _check_topic(conn.topic)))
    return MqttAccount(agent.id, "gateway", tuple(rules), tuple(d.id for d in devices))


def sensor_accounts(config: PlatformConfig) -> list[MqttAccount]:
    """MQTT sensors publishing to the platform broker: each may write its own topic only."""
    out = []
    for dev in sorted(config.devices.values(), key=lambda d: d.id):
        conn = dev.connection
        if dev.enabled and isinstance(conn, MqttSource) and conn.broker is None:
            rule = AclRule(Access.WRITE, _check_topic(conn.topic))
            out.append(MqttAccount(SENSOR_PREFIX + dev.id, "sensor", (rule,), (dev.id,)))
    return out


def service_accounts(prefixes: Iterable[str]) -> list[MqttAccount]:
    """Ingest reads what gateways send and writes dead letters and anomaly events; the API
    writes commands and reads everything under the prefix (acks, status, live telemetry)."""
    ingest: list[AclRule] = []
    api: list[AclRule] = []
    for prefix in sorted(set(prefixes)):
        root = f"{Topics(prefix).prefix}/{TOPIC_VERSION}"
        ingest += [AclRule(Access.READ, f"{root}/{kind}/#") for kind in ("tele", "status", "agent")]
        ingest += [AclRule(Access.READ, f"{root}/ack/#")]
        ingest += [
            AclRule(Access.WRITE, f"{root}/dead/#"),
            AclRule(Access.WRITE, f"{root}/event/#"),
        ]
        # ingest's own probe and marker topics (peakline_ingest.restart_guard)
        ingest += [
            AclRule(Access.READ, f"{root}/ingest/#"),
            AclRule(Access.WRITE, f"{root}/ingest/#"),
        ]
        api += [AclRule(Access.READ, f"{root}/#"), AclRule(Access.WRITE, f"{root}/cmd/#")]
    return [
        MqttAccount(INGEST_USER, "service", tuple(ingest)),
        MqttAccount(API_USER, "service", tuple(api)),
    ]


def all_accounts(config: PlatformConfig) -> list[MqttAccount]:
    """Every broker account the configuration needs; raises ProvisionError on a name clash
    or a sensor topic that cannot be granted safely."""
    check_sensor_topics(config)
    accounts = [gateway_account(config, a) for a in sorted(config.agents)]
    accounts += sensor_accounts(config)
    accounts += service_accounts(a.uplink.topic_prefix for a in config.agents.values())
    seen: set[str] = set()
    for acc in accounts:
        if acc.kind != "service" and acc.username.startswith(RESERVED_PREFIXES):
            raise ProvisionError(
                f"device login {acc.username!r} may not start with {' or '.join(RESERVED_PREFIXES)}"
                " (it is also its MQTT client id; those belong to the services)"
            )
        if acc.username in seen:
            raise ProvisionError(f"two broker accounts would be named {acc.username!r}")
        seen.add(acc.username)
    return accounts


def render_acl(accounts: Iterable[MqttAccount]) -> str:
    """A mosquitto `acl_file`: one `user` block per account, explicit topics, no patterns."""
    blocks = ["# Generated by `peakline provision`; edit the config and re-run instead.\n"]
    for acc in accounts:
        lines = [f"# {acc.kind}" + (f": {', '.join(acc.devices)}" if acc.devices else "")]
        lines.append(f"user {acc.username}")
        lines += [f"topic {rule.access.value} {rule.topic}" for rule in acc.rules]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


DEPLOY_LISTENERS = {
    "1883": "",
    "8883": (
        "cafile /mosquitto/tls/ca.crt\ncertfile /mosquitto/tls/server.crt\n"
        "keyfile /mosquitto/tls/server.key\ntls_version tlsv1.2"
    ),
}
"""The compose broker's device listeners: plain inside the compose network, TLS for gateways."""
DEPLOY_SERVICE_LISTENER = "1884"
"""Ingest and the API only; never published outside the compose network."""


def render_listeners(
    secrets_dir: Path | str, device_listeners: Mapping[str, str], service_listener: str
) -> str:
    """The listener part of `mosquitto.conf`, after every general option.

    Device logins (gateways, sensors) use `device_listeners`, where the broker replaces the
    client id with the login (`use_username_as_clientid`): a device can only ever resume or
    take over its own session. Service logins (ingest, API) exist only in `passwd-services`,
    loaded by `service_listener` alone, so no device password opens it. A listener is
    `"<port> [<bind address>]"` mapped to extra lines for it (TLS)."""
    lines = ["per_listener_settings true"]
    for listener, extra in device_listeners.items():
        lines += [
            f"listener {listener}",
            "allow_anonymous false",
            f"password_file {secrets_dir}/passwd",
            f"acl_file {secrets_dir}/acl",
            "use_username_as_clientid true",
        ]
        lines += [line for line in extra.splitlines() if line.strip()]
    lines += [
        f"listener {service_listener}",
        "allow_anonymous false",
        f"password_file {secrets_dir}/passwd-services",
        f"acl_file {secrets_dir}/acl",
    ]
    return "\n".join(lines) + "\n"


def hash_password(
    password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS
) -> str:
    """mosquitto 2 `$7$` hash: PBKDF2-HMAC-SHA512, 12-byte salt, base64 fields."""
    salt = secrets.token_bytes(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def render_passwd(passwords: dict[str, str]) -> str:
    """A mosquitto `password_file` from username -> plaintext password."""
    return "".join(f"{user}:{hash_password(pw)}\n" for user, pw in sorted(passwords.items()))


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)


@dataclass
class Provisioned:
    """What one provisioning run wrote, for the summary and for tests."""

    out: Path
    accounts: list[MqttAccount]
    passwords: dict[str, str]
    acl_file: Path
    passwd_file: Path
    """device logins (gateways, sensors) only; service logins are in `services_passwd_file`"""
    created: list[str] = field(default_factory=list)
    api_keys: list[tuple[str, str, str]] = field(default_factory=list)
    """(name, key id, token) of operator keys created in this run."""

    @property
    def services_passwd_file(self) -> Path:
        return self.passwd_file.with_name("passwd-services")

    @property
    def listeners_file(self) -> Path:
        return self.passwd_file.with_name("listeners.conf")

    def secret_file(self, username: str) -> Path:
        return self.out / "passwords" / f"{username}.password"


def provision(config: PlatformConfig, out: Path, rotate: bool = False) -> Provisioned:
    """Write `<out>/mosquitto/{passwd,acl}`, `<out>/passwords/<user>.password` and
    `<out>/gateways/<agent>/` (what to copy to each gateway). Existing secrets are kept
    unless `rotate`."""
    accounts = all_accounts(config)
    passwords: dict[str, str] = {}
    created: list[str] = []
    result = Provisioned(out, accounts, passwords, out / "mosquitto/acl", out / "mosquitto/passwd")
    for acc in accounts:
        path = result.secret_file(acc.username)
        if path.exists() and not rotate:
            passwords[acc.username] = path.read_text(encoding="utf-8").strip()
        else:
            passwords[acc.username] = secrets.token_urlsafe(24)
            _write_private(path, passwords[acc.username] + "\n")
            created.append(acc.username)
    result.created = created
    result.acl_file.parent.mkdir(parents=True, exist_ok=True)
    result.acl_file.write_text(render_acl(accounts), encoding="utf-8")
    # The hashes are of 192-bit random secrets (not guessable), but keep them private anyway;
    # the compose file mounts the folder read-only into the broker.
    result.listeners_file.write_text(
        "# Generated by `peakline provision`; loaded by deploy/mosquitto/mosquitto.conf.\n"
        + render_listeners("/mosquitto/secrets", DEPLOY_LISTENERS, DEPLOY_SERVICE_LISTENER),
        encoding="utf-8",
    )
    services = {a.username for a in accounts if a.kind == "service"}
    _write_private(
        result.passwd_file, render_passwd({u: p for u, p in passwords.items() if u not in services})
    )
    _write_private(
        result.services_passwd_file,
        render_passwd({u: p for u, p in passwords.items() if u in services}),
    )
    for acc in accounts:
        if acc.kind == "gateway":
            _write_gateway_bundle(config, result, acc)
    return result


def _write_gateway_bundle(config: PlatformConfig, result: Provisioned, acc: MqttAccount) -> None:
    agent = config.agents[acc.username]
    folder = result.out / "gateways" / agent.id
    _write_private(folder / "mqtt.password", result.passwords[agent.id] + "\n")
    (folder / "uplink.yaml").write_text(
        "# Merge into this agent's entry in agents.yaml on the gateway.\n"
        "uplink:\n"
        f"  broker: {agent.uplink.broker}\n"
        f"  topic_prefix: {agent.uplink.topic_prefix}\n"
        f"  username: {agent.id}\n"
        "  password_file: /etc/peakline/mqtt.password\n"
        + ("  ca_file: /etc/peakline/ca.crt\n" if agent.uplink.broker.startswith("mqtts") else ""),
        encoding="utf-8",
    )


def parse_operator(spec: str) -> tuple[str, str, list[str]]:
    """`name[:role[:city,city]]` -> (name, role, cities); role defaults to viewer, cities to *."""
    name, _, rest = spec.partition(":")
    role, _, cities = rest.partition(":")
    city_list = [c for c in cities.split(",") if c] or ["*"]
    for city in city_list:
        if city != "*" and not is_valid_id(city):
            raise ProvisionError(f"invalid city {city!r} in --operator {spec!r}")
    if not name:
        raise ProvisionError(f"--operator {spec!r} needs a name")
    return name, role or "viewer", city_list


def create_api_keys(keys_db: Path, operators: list[str], result: Provisioned) -> None:
    """Create one API key per `--operator` in the API's key store (tokens are shown once)."""
    from peakline_api.keys import KeyStore, KeyStoreError, Role

    with KeyStore(keys_db) as store:
        for spec in operators:
            name, role, cities = parse_operator(spec)
            try:
                record, token = store.create(name, Role.parse(role), cities)
            except KeyStoreError as exc:
                raise ProvisionError(str(exc)) from None
            result.api_keys.append((name, record.id, token))


provision_app = typer.Typer(help="Broker credentials and ACLs, operator API keys.")


@provision_app.callback(invoke_without_command=True)
def provision_command(
    config_dir: Annotated[Path, typer.Argument(help="configuration directory")] = Path("config"),
    out: Annotated[Path, typer.Option(help="where to write the broker files and secrets")] = Path(
        "deploy/secrets"
    ),
    operator: Annotated[
        list[str] | None,
        typer.Option(help="create an API key: name[:viewer|operator|admin[:city,city]]"),
    ] = None,
    keys_db: Annotated[
        Path | None, typer.Option(help="API key store (default: <out>/api-keys.db)")
    ] = None,
    rotate: Annotated[bool, typer.Option(help="issue new passwords for every account")] = False,
) -> None:
    """Generate per-gateway MQTT credentials, the mosquitto password and ACL files, and API
    keys; print what to copy to each gateway."""
    try:
        config = load_config(config_dir)
        result = provision(config, out, rotate=rotate)
        if operator:
            create_api_keys(keys_db or out / "api-keys.db", operator, result)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    except ProvisionError as exc:
        typer.echo(f"provision: {exc}", err=True)
        raise typer.Exit(1) from None
    _print_summary(result)


def _print_summary(result: Provisioned) -> None:
    echo = typer.echo
    fresh = set(result.created)
    echo(f"broker files: {result.passwd_file}  {result.acl_file}")
    for acc in result.accounts:
        state = "new password" if acc.username in fresh else "password kept"
        echo(f"  {acc.kind:8} {acc.username:24} {len(acc.rules):3} topics  ({state})")
    echo("\ncopy to each gateway (then restart peakline-edge):")
    for acc in result.accounts:
        if acc.kind == "gateway":
            folder = result.out / "gateways" / acc.username
            echo(f"  {acc.username}: {folder}/mqtt.password -> /etc/peakline/mqtt.password (0600)")
            echo(f"  {' ' * len(acc.username)}  merge {folder}/uplink.yaml into agents.yaml")
    echo(
        f"\nservices: PEAKLINE_MQTT_USERNAME={INGEST_USER} / {API_USER}, passwords in "
        f"{result.out / 'passwords'}/"
    )
    for name, key_id, token in result.api_keys:
        echo(f"API key for {name} ({key_id}), shown once: {token}")
