"""What the demo will run, decided before anything starts: options from the command line or
the environment, and the example district's config rewritten for this machine (the broker it
will use, the simulators' actual ports). Pure: no sockets, no processes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from peakline_cli.demo.api_server import TlsFiles
from peakline_cli.errors import CliError
from peakline_core.config import PlatformConfig
from peakline_core.config.platform import ModbusTcp
from peakline_core.wire.broker import redact_url


class DemoError(CliError):
    """The demo cannot start or did not see data flow end to end; the message says why."""


HISTORY_SHARE = 1 / 3
"""Of a `--duration`, the most the history may take."""


@dataclass(frozen=True)
class DemoOptions:
    """`peakline demo` options. `broker`/`influx` None: the embedded broker and SQLite store."""

    config_dir: Path = Path("config")
    scenario: Path | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    broker: str | None = None
    influx: str | None = None
    influx_db: str = "peakline_demo"
    influx_token: str | None = None
    topic_prefix: str = "peakline"
    state_dir: Path | None = None
    duration_s: float | None = None
    tls: TlsFiles | None = None
    history_days: float = 7.0
    """Simulated days run through the real path before going live; 0: start empty."""
    history_budget_s: float = 40.0
    """Wall seconds the backfill may take; the span is shortened when it cannot fit."""

    @property
    def history_wall_s(self) -> float:
        """The backfill's budget, at most a third of `--duration`: a short run still goes
        live (a 60 s demo on a loaded machine spent its whole minute delivering history and
        stored no live reading)."""
        if self.duration_s is None:
            return self.history_budget_s
        return min(self.history_budget_s, self.duration_s * HISTORY_SHARE)

    def check(self) -> None:
        if self.broker is not None and urlsplit(self.broker).scheme not in ("mqtt", "mqtts"):
            raise DemoError(f"--broker {redact_url(self.broker)!r}: expected mqtt://host:port")
        if self.broker is not None and urlsplit(self.broker).username is not None:
            # Credentials on a command line leak into `ps` and shell history, and the demo's
            # simulators and tap log in anonymously: refuse rather than half-apply them.
            raise DemoError(
                "--broker: credentials are not supported by the demo; give it an anonymous "
                "loopback listener (production services take username and password_file)"
            )
        if self.influx is not None and urlsplit(self.influx).scheme not in ("http", "https"):
            raise DemoError(f"--influx {self.influx!r}: expected http://host:8086")
        if not 0 < self.port < 65536:
            # The dashboard URL and the end-to-end probe both need the port up front.
            raise DemoError(f"--port {self.port}: give the dashboard a port from 1 to 65535")
        if self.duration_s is not None and self.duration_s <= 0:
            raise DemoError("--duration must be positive (seconds)")
        if not 0 <= self.history_days <= 30:
            # ingest refuses readings older than its max_past_s (90 days); a month is plenty
            raise DemoError("--history-days: give 0 to 30 simulated days")
        if self.history_budget_s <= 0:
            raise DemoError("--history-budget must be positive (seconds)")
        if self.host not in ("127.0.0.1", "localhost", "::1") and self.tls is None:
            # The demo's API key is printed on screen; do not serve it in clear to a network.
            raise DemoError(f"--host {self.host}: the demo serves plain HTTP on loopback only")


def store_url(options: DemoOptions, state_dir: Path) -> str:
    """The store the demo's ingest writes and its API reads (`open_store` URL syntax)."""
    if options.influx is None:
        return f"sqlite://{(state_dir / 'store.db').resolve()}"
    query = {"db": options.influx_db} | (
        {"token": options.influx_token} if options.influx_token else {}
    )
    return f"{options.influx.rstrip('/')}?{urlencode(query)}"


def describe_store(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return f"SQLite {parts.path}"
    return f"InfluxDB {parts.scheme}://{parts.netloc} ({parts.query.split('&')[0]})"


def rewire(
    config: PlatformConfig,
    broker_url: str,
    topic_prefix: str,
    endpoints: dict[str, tuple[str, int]],
) -> PlatformConfig:
    """The config with every agent's uplink on `broker_url` (no credentials: the demo broker
    is anonymous, a test broker too) and every simulated Modbus TCP device at the host and
    port its simulator actually listens on. Devices without a simulator are disabled."""
    agents = {
        agent_id: agent.model_copy(
            update={
                "uplink": agent.uplink.model_copy(
                    update={
                        "broker": broker_url,
                        "topic_prefix": topic_prefix,
                        "username": None,
                        "password_file": None,
                        "ca_file": None,
                        "cert_file": None,
                        "key_file": None,
                    }
                ),
            }
        )
        for agent_id, agent in config.agents.items()
    }
    devices = {}
    for dev_id, dev in config.devices.items():
        conn = dev.connection
        if isinstance(conn, ModbusTcp):
            if dev_id in endpoints:
                host, port = endpoints[dev_id]
                dev = dev.model_copy(
                    update={"connection": conn.model_copy(update={"host": host, "port": port})}
                )
            else:
                dev = dev.model_copy(update={"enabled": False})
        devices[dev_id] = dev
    return dataclasses.replace(config, agents=agents, devices=devices)
