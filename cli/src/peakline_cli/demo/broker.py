"""The demo's embedded MQTT broker (amqtt, in-process, MQTT 3.1.1): used when no --broker is
given, so a new user needs nothing installed. Production uses mosquitto (docker-compose.yml)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from peakline_cli.errors import CliError


class EmbeddedBrokerError(CliError, RuntimeError):
    """The embedded broker could not start (port taken, amqtt error)."""


@contextlib.asynccontextmanager
async def embedded_broker(host: str = "127.0.0.1", port: int = 1883) -> AsyncIterator[str]:
    """Run an anonymous amqtt broker on `host:port` until the block exits; yields its URL."""
    from amqtt.broker import Broker
    from amqtt.errors import BrokerError

    broker = Broker(
        {
            "listeners": {
                "default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 200}
            },
            # Only the auth plugin: amqtt's packet/event loggers and $SYS ticker are noise here.
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    try:
        await broker.start()
    except (BrokerError, OSError) as exc:
        raise EmbeddedBrokerError(f"embedded MQTT broker on {host}:{port}: {exc}") from None
    try:
        yield f"mqtt://{host}:{port}"
    finally:
        await broker.shutdown()
