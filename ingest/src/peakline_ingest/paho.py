"""The one place ingest reaches under aiomqtt to the paho-mqtt client it wraps.

aiomqtt 2.5 has no manual-ack option and drops UNSUBACK and PUBACK reason codes; paho-mqtt 2
underneath has both (`manual_ack_set`, `ack`, its `on_*` callbacks). Both attributes read here
are aiomqtt's private ones, so an aiomqtt upgrade is checked in this file (and by the ingest
integration tests against mosquitto).
"""

from __future__ import annotations

import asyncio

import aiomqtt
import paho.mqtt.client as mqtt


def paho_client(client: aiomqtt.Client) -> mqtt.Client:
    """The paho-mqtt client under `client`."""
    return client._client  # noqa: SLF001  (aiomqtt has no public handle)


def incoming(client: aiomqtt.Client) -> asyncio.Queue[aiomqtt.Message]:
    """The messages aiomqtt has read from paho and holds for `client.messages`."""
    return client._queue  # noqa: SLF001  (aiomqtt has no public handle)
