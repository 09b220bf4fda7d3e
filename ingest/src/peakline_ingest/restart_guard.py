"""The restart guard: a shared subscription loses nothing when mosquitto 2.0 restarts.

mosquitto 2.0.x writes plain subscriptions to its persistence file but not shared ones
(`persist__subs_save` walks a topic node's `subs`, never its `shared`). After a restart a
worker's session comes back (session present, queued messages kept) without its
`$share/<group>/...` subscription, and every telemetry message published before the first
worker of the group subscribes again matches no subscriber and is dropped by the broker
(MQTT 5 publishers get PUBACK reason 16 "no matching subscribers"; 3.1.1 publishers get a
plain PUBACK and delete the batch from their spool). Re-subscribing cannot bring them back.

The guard is a second persistent session per worker (`<client-id>-guard`) holding a *plain*
QoS 1 subscription to the same telemetry filter, which mosquitto does persist: across a
restart the broker queues those messages for the guard. On every connect the worker probes
first: UNSUBSCRIBE of its own shared probe filter answers 0x11 "no subscription existed" when
the broker has lost the worker's shared subscriptions (a restart; also the very first start)
and 0x00 otherwise (a network blip, a worker restart: the group kept receiving). After a loss
the worker subscribes again, then the guard publishes a marker to its own topic and feeds every
telemetry message queued before the marker through the pipeline (stored, then acknowledged):
those were routed while the group had no subscription. After the marker, and when no loss was
detected, the guard acknowledges at once and stores nothing: the group received those.

A recovery in progress survives a worker restart (flag file
`<state-dir>/restart-guard-<client-id>.pending`, removed once the marker's PUBACK left, i.e.
after everything before it was stored). Cost: the broker sends each worker every telemetry
message twice (the guard's copy is acknowledged unread). Writes are idempotent, so what the
guard stores that the group stored too (messages routed between the re-subscribe and the
marker, or stored by another worker's guard) is the same row written again.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import aiomqtt
import structlog

from peakline_core.errors import PayloadError
from peakline_core.wire import TopicKind, Topics, decode_telemetry
from peakline_ingest.acks import OrderedAcks
from peakline_ingest.errors import IngestError
from peakline_ingest.metrics import IngestMetrics
from peakline_ingest.paho import incoming, paho_client
from peakline_ingest.pipeline import Pipeline
from peakline_ingest.validate import Validator

log = structlog.get_logger("peakline.ingest.guard")

NO_SUBSCRIPTION_EXISTED = 0x11  # MQTT 5 UNSUBACK reason code


class GuardRefused(IngestError):
    """The broker's ACL refuses the guard's subscriptions (grant `<prefix>/v1/ingest/#`)."""


def _value(code: Any) -> int:
    return int(getattr(code, "value", code))


def _refused(codes: Any) -> bool:
    """Any MQTT 5 reason code of 0x80 or more in a SUBACK/PUBACK/UNSUBACK."""
    return any(_value(code) >= 0x80 for code in codes)


async def _replies(client: aiomqtt.Client, callback: str, call: Awaitable[Any]) -> list[Any]:
    """Run one request on `client`, returning the reason codes of the acks that arrive
    meanwhile (aiomqtt drops them for UNSUBACK and PUBACK). Only for a connection that has
    nothing else of that kind in flight: the guard's, or the worker's before it subscribes."""
    paho = paho_client(client)
    forward: Any = getattr(paho, callback)
    codes: list[Any] = []

    def record(c: Any, userdata: Any, mid: int, reasons: Any, props: Any = None) -> None:
        codes.extend(reasons if isinstance(reasons, list) else [reasons])
        if forward is not None:
            forward(c, userdata, mid, reasons, props)

    setattr(paho, callback, record)
    try:
        await call
    finally:
        setattr(paho, callback, forward)
    return codes


def _ignore(client: Any, userdata: Any, message: Any) -> None:
    """A message the group received too: paho acknowledges it, nobody reads it."""


def _level(text: str) -> str:
    """`text` usable as one topic level and as a share name."""
    return re.sub(r"[/+#$]", "_", text) or "_"


class RestartGuard:
    """One worker's guard session; `shared_lost` on the worker's connection, then `attach` and
    `consume` on the guard's own connection (`client_id`)."""

    def __init__(
        self,
        topics: Topics,
        client_id: str,
        group: str,
        state_dir: Path,
        pipeline: Pipeline,
        validator: Validator,
        metrics: IngestMetrics,
    ) -> None:
        self.pipeline = pipeline
        self.validator = validator
        self.metrics = metrics
        self.acks = OrderedAcks()
        self.client_id = f"{client_id}-guard"
        base = f"{topics.root}/ingest/{_level(client_id)}"
        self.probe_filter = topics.shared(group, f"{base}/probe")  # nobody publishes there
        self.marker_topic = f"{base}/mark"
        self.telemetry_filter = topics.filter(TopicKind.TELEMETRY)
        self._pending = state_dir / f"restart-guard-{_level(client_id)}.pending"
        self._marker: bytes | None = None  # recovering until this marker comes back
        self.recovered = 0  # telemetry messages the current/last recovery handed to the pipeline

    @property
    def recovering(self) -> bool:
        return self._marker is not None

    async def shared_lost(self, client: aiomqtt.Client) -> bool:
        """Probe on the worker's connection before it subscribes: True when the broker has
        none of this worker's shared subscriptions. A loss is recorded on disk at once."""
        codes = await _replies(client, "on_unsubscribe", client.unsubscribe(self.probe_filter))
        if _refused(codes):
            raise GuardRefused(f"the broker refused to unsubscribe {self.probe_filter!r}")
        lost = any(_value(code) == NO_SUBSCRIPTION_EXISTED for code in codes)
        if lost:
            self._pending.parent.mkdir(parents=True, exist_ok=True)
            self._pending.touch()
        return lost

    async def attach(self, client: aiomqtt.Client) -> None:
        """On the guard's new connection: subscribe; start a recovery if one is pending."""
        paho = paho_client(client)
        self.acks.connected(lambda mid, qos: paho.ack(mid, qos))
        for topic in (self.telemetry_filter, self.marker_topic):
            if _refused(await client.subscribe(topic, qos=1)):
                raise GuardRefused(f"the broker refused the guard's subscription to {topic!r}")
        if not self._pending.exists():
            self._marker = None
            self._quiet(client)
            return
        self._marker = uuid.uuid4().hex.encode()
        self.recovered = 0
        log.info("no shared subscription was on the broker (restart or first start): recovering")
        codes = await _replies(
            client, "on_publish", client.publish(self.marker_topic, self._marker, qos=1)
        )
        if _refused(codes):
            raise GuardRefused(f"the broker refused the guard's marker on {self.marker_topic!r}")

    def disconnected(self) -> None:
        self.acks.disconnected()

    async def consume(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            token = self.acks.register(message.mid, message.qos)
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload).encode()
            topic = message.topic.value
            if topic == self.marker_topic:
                if data == self._marker:
                    self._marker = None
                    token.on_sent = self._recovered  # everything before it is stored by then
                self.acks.done(token)
            elif self._marker is None or self._stored_already(data):
                self.acks.done(token)
            else:
                self.recovered += 1
                self.metrics.guard_recovered.inc()
                await self.pipeline.handle(topic, data, token)
            if self._marker is None and self.acks.in_flight == 0:
                self._quiet(client)

    def _quiet(self, client: aiomqtt.Client) -> None:
        """No recovery and every ack sent: from now on paho acknowledges each message as it
        reads it and nothing goes up to aiomqtt (the guard's steady state, kept cheap). What
        aiomqtt already queued is acknowledged first, keeping PUBACKs in receive order."""
        paho = paho_client(client)
        paho.on_message = _ignore
        queue = incoming(client)
        while not queue.empty():
            message = queue.get_nowait()
            paho.ack(message.mid, message.qos)
        paho.manual_ack_set(False)

    def _recovered(self) -> None:
        self._pending.unlink(missing_ok=True)
        log.info("recovered from the guard session", messages=self.recovered)

    def _stored_already(self, payload: bytes) -> bool:
        """A batch this worker stored already (restored from before the restart): skip it
        rather than dead-letter it as a duplicate. Undecodable ones go on to be dead-lettered."""
        try:
            batch = decode_telemetry(payload)
        except PayloadError:
            return False
        return self.validator.window.seen(batch.agent, batch.seq)
