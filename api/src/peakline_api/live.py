"""Live state from the broker: device status, agent state, last telemetry, and stream fan-out.

The hub is fed raw MQTT messages (topic, payload) and keeps only small per-device records;
subscribers (SSE clients) get their own bounded queue, and a slow client loses its oldest
messages (counted) instead of holding memory or slowing the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import structlog

from peakline_api.errors import Internal
from peakline_api.latest import LatestTable, reading_value
from peakline_api.settings import ApiSettings
from peakline_core.emissions.errors import IntensityParseError
from peakline_core.emissions.intensity import parse_intensity_message
from peakline_core.errors import PayloadError, TopicError
from peakline_core.storage.schema import CARBON_INTENSITY, READING, QualityCode
from peakline_core.wire import payloads as wire
from peakline_core.wire.broker import BrokerAddress
from peakline_core.wire.topics import TopicKind, Topics


@dataclass(slots=True)
class DeviceLive:
    """What the API knows about one device from the broker."""

    state: str = "unknown"  # online | unavailable | offline | unknown (nothing retained yet)
    since_ns: int | None = None
    reason: str | None = None
    last_seen_ns: int | None = None  # newest reading timestamp seen
    quality: str | None = None  # worst quality in the newest batch


@dataclass(eq=False)
class Subscriber:
    """One stream client: the sites and devices it asked for and its bounded queue."""

    sites: frozenset[str]
    devices: frozenset[str] | None
    queue: asyncio.Queue[tuple[str, dict[str, Any]]]
    dropped: int = 0
    key: str = ""
    """the API key id that opened it (stream limits)"""

    def wants(self, site: str, device: str) -> bool:
        return site in self.sites and (self.devices is None or device in self.devices)

    def offer(self, event: str, data: dict[str, Any]) -> bool:
        """Queue an event; when full drop the oldest. True when something was dropped."""
        dropped = False
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
                self.dropped += 1
                dropped = True
        self.queue.put_nowait((event, data))
        return dropped


@dataclass(frozen=True, slots=True)
class AgentSpool:
    """An online agent's last reported spool depth (agent topic)."""

    readings: int
    oldest_age_s: float
    ts_ns: int


@dataclass(frozen=True, slots=True)
class DeviceOwner:
    """Where a configured device lives and which agent polls it."""

    site: str
    agent: str


class ForgedMessage(Internal):
    """A message whose payload names a site, device or agent its topic does not (or a device
    its agent does not own): a gateway speaking for another's device."""


@dataclass
class LiveHub:
    """Device and agent state plus stream subscribers, fed by `feed(topic, payload)`.

    `owners` (device id -> site and agent, from the registry) is what a message may claim: a
    payload whose ids differ from its topic's, or name a device that is not configured or not
    its agent's, is dropped and counted in `rejected` (by reason), so no gateway can write
    another's live state and invented ids cannot grow `devices`. None (unit tests only) skips
    the registry check, not the topic check."""

    topics: Topics
    queue_size: int = 1000
    on_drop: Callable[[], None] = lambda: None
    owners: Mapping[str, DeviceOwner] | None = None
    on_reject: Callable[[str], None] = lambda reason: None
    rejected: dict[str, int] = field(default_factory=dict)
    devices: dict[tuple[str, str], DeviceLive] = field(default_factory=dict)
    agents: dict[str, str] = field(default_factory=dict)
    spools: dict[str, AgentSpool] = field(default_factory=dict)
    """agent -> its spool as last reported while online (dropped when it goes offline)"""
    subscribers: set[Subscriber] = field(default_factory=set)
    connected: bool = False
    client: aiomqtt.Client | None = None
    """The connected client, for publishing (commands); None while disconnected."""
    table: LatestTable | None = None
    """The newest value of every point and region, fed by telemetry and grid messages."""

    def device(self, site: str, device: str) -> DeviceLive:
        return self.devices.get((site, device)) or DeviceLive()

    @contextlib.asynccontextmanager
    async def subscribe(
        self, sites: frozenset[str], devices: frozenset[str] | None, key: str = ""
    ) -> AsyncIterator[Subscriber]:
        sub = Subscriber(sites, devices, asyncio.Queue(self.queue_size), key=key)
        self.subscribers.add(sub)
        # Start with the status of every device the client wants, as a retained message would:
        # a transition between the client's snapshot request and this subscription is not lost.
        for (site, device), rec in self.devices.items():
            if rec.state != "unknown" and sub.wants(site, device):
                sub.offer("status", _status_event(site, device, rec))
        try:
            yield sub
        finally:
            self.subscribers.discard(sub)

    def _publish(self, site: str, device: str, event: str, data: dict[str, Any]) -> None:
        for sub in self.subscribers:
            if sub.wants(site, device) and sub.offer(event, data):
                self.on_drop()

    def feed(self, topic: str, payload: bytes) -> None:
        """Handle one broker message; bad topics and payloads are ignored (ingest dead-letters),
        forged ones are dropped and counted."""
        try:
            parsed = self.topics.parse(topic)
            if parsed.kind is TopicKind.TELEMETRY:
                batch = wire.decode_telemetry(payload)
                self._check(parsed.site, parsed.device, batch.site, batch.device, batch.agent)
                self._telemetry(batch)
            elif parsed.kind is TopicKind.STATUS:
                status = wire.decode_device_status(payload)
                self._check(parsed.site, parsed.device, status.site, status.device, status.agent)
                self._status(status)
            elif parsed.kind is TopicKind.AGENT:
                state = wire.decode_agent_state(payload)
                if state.agent != parsed.name or (
                    self.owners is not None
                    and not any(o.agent == state.agent for o in self.owners.values())
                ):
                    raise ForgedMessage("unknown_agent")
                self.agents[state.agent] = state.state
                if state.state == "online" and state.spool_readings is not None:
                    self.spools[state.agent] = AgentSpool(
                        state.spool_readings, state.spool_oldest_age_s or 0.0, state.ts
                    )
                else:
                    self.spools.pop(state.agent, None)
            elif parsed.kind is TopicKind.EVENT and parsed.site and parsed.device:
                self._event(parsed.site, parsed.device, payload)
            elif parsed.kind is TopicKind.GRID and parsed.name and self.table is not None:
                self._grid(parsed.name, payload)
            elif parsed.kind is TopicKind.ACK and parsed.site and parsed.device:
                ack = wire.decode_ack(payload)
                self._check(parsed.site, parsed.device, ack.site, ack.device, ack.agent)
                self._publish(ack.site, ack.device, "ack", _ack_dict(ack))
        except (TopicError, PayloadError):
            return
        except ForgedMessage as exc:
            reason = f"{parsed.kind.value}_{exc}"
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
            self.on_reject(reason)

    def _check(
        self, site: str | None, device: str | None, p_site: str, p_device: str, agent: str
    ) -> None:
        """The payload's site and device are the topic's, and the device is its agent's."""
        if (site, device) != (p_site, p_device):
            raise ForgedMessage("topic_mismatch")
        if self.owners is None:
            return
        owner = self.owners.get(p_device)
        if owner is None or owner.site != p_site:
            raise ForgedMessage("unknown_device")
        if owner.agent != agent:
            raise ForgedMessage("wrong_agent")

    def _grid(self, region: str, payload: bytes) -> None:
        """A grid-intensity point, as ingest would store it (the payload's region is the
        topic's, its time within ingest's bounds)."""
        assert self.table is not None
        try:
            point = parse_intensity_message(payload)
        except IntensityParseError:
            return
        if point.region == region and self.table.plausible([point.ts_ns]):
            self.table.offer(CARBON_INTENSITY, "g_per_kwh", (region,), point.ts_ns, point.g_per_kwh)

    def _remember(self, batch: wire.TelemetryBatch) -> None:
        """The batch's readings into the latest-value table when ingest would store them."""
        assert self.table is not None
        infinite = any(isinstance(r.value, float) and math.isinf(r.value) for r in batch.readings)
        if infinite or not self.table.plausible(r.ts for r in batch.readings):
            return  # ingest refuses the whole message
        for r in batch.readings:
            tags = (batch.site, batch.device, r.point)
            self.table.offer(READING, "quality", tags, r.ts, int(QualityCode.of(r.quality)))
            value = reading_value(r.value)
            if value is not None:
                self.table.offer(READING, "value", tags, r.ts, value)

    def _telemetry(self, batch: wire.TelemetryBatch) -> None:
        if self.table is not None:
            self._remember(batch)
        rec = self.devices.setdefault((batch.site, batch.device), DeviceLive())
        newest = max(r.ts for r in batch.readings)
        if rec.last_seen_ns is None or newest >= rec.last_seen_ns:
            rec.last_seen_ns = newest
            order = ("good", "stale", "error")
            rec.quality = max((r.quality.value for r in batch.readings), key=order.index)
        if rec.state in ("unknown", "offline", "unavailable") and rec.since_ns is None:
            rec.state = "online"
        if any(s.wants(batch.site, batch.device) for s in self.subscribers):
            self._publish(
                batch.site,
                batch.device,
                "readings",
                {
                    "site": batch.site,
                    "device": batch.device,
                    "readings": [
                        {
                            "point": r.point,
                            "t_ms": r.ts // 1_000_000,
                            "value": r.value,
                            "quality": r.quality.value,
                        }
                        for r in batch.readings
                    ],
                },
            )

    def _status(self, status: wire.DeviceStatus) -> None:
        rec = self.devices.setdefault((status.site, status.device), DeviceLive())
        rec.state, rec.since_ns, rec.reason = status.state, status.ts, status.reason
        if status.last_ok and (rec.last_seen_ns is None or status.last_ok > rec.last_seen_ns):
            rec.last_seen_ns = status.last_ok
        self._publish(
            status.site, status.device, "status", _status_event(status.site, status.device, rec)
        )

    def _event(self, site: str, device: str, payload: bytes) -> None:
        import msgspec

        try:
            event = msgspec.json.decode(
                payload[: wire.MAX_PAYLOAD_BYTES], type=wire.AnomalyEventMessage
            )
        except (msgspec.DecodeError, msgspec.ValidationError):
            return
        if event.site == site and event.device == device:
            self._publish(site, device, "anomaly", msgspec.to_builtins(event))


def _status_event(site: str, device: str, rec: DeviceLive) -> dict[str, Any]:
    # A state inferred from telemetry (no status received yet) is as of its newest reading.
    t_ns = rec.since_ns if rec.since_ns is not None else rec.last_seen_ns or 0
    return {
        "site": site,
        "device": device,
        "state": rec.state,
        "reason": rec.reason,
        "t_ms": t_ns // 1_000_000,
    }


def _ack_dict(ack: wire.CommandAck) -> dict[str, Any]:
    return {
        "id": ack.id,
        "site": ack.site,
        "device": ack.device,
        "point": ack.point,
        "state": ack.state.value,
        "reason": ack.reason,
        "readback": ack.readback,
        "t_ms": ack.ts // 1_000_000,
    }


def mqtt_client_options(settings: ApiSettings) -> dict[str, Any]:
    """aiomqtt.Client keyword arguments for the configured broker: address, login, TLS."""
    if settings.broker_url is None:
        raise ValueError("no broker configured")
    address = BrokerAddress.parse(settings.broker_url)
    if settings.broker_password_file is not None:
        password = settings.broker_password_file.read_text(encoding="utf-8").strip()
        address = address.with_login(settings.broker_username, password)
    elif settings.broker_username:
        address = address.with_login(settings.broker_username, None)
    options: dict[str, Any] = {
        "hostname": address.host,
        "port": address.port,
        "username": address.username,
        "password": address.password,
    }
    if address.tls:
        ca = str(settings.broker_ca_file) if settings.broker_ca_file else None
        options["tls_params"] = aiomqtt.TLSParameters(ca_certs=ca)
    return options


async def follow_broker(
    hub: LiveHub,
    settings: ApiSettings,
    client_id: str,
    on_connect: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Keep a subscription to the status/agent/telemetry/event/ack/grid topics; reconnect
    forever.

    Retained status and agent messages arrive on every (re)connect, which rebuilds the state;
    `on_connect` (the latest-value table's seed from the store) runs after subscribing, so
    nothing between the seed and the feed is missed.
    """
    log = structlog.get_logger("peakline.api.live")
    options = mqtt_client_options(settings)
    kinds = (
        TopicKind.STATUS,
        TopicKind.AGENT,
        TopicKind.TELEMETRY,
        TopicKind.EVENT,
        TopicKind.ACK,
        TopicKind.GRID,
    )
    delay = 0.5
    while True:
        try:
            async with aiomqtt.Client(
                **options, identifier=client_id, keepalive=30, clean_session=True
            ) as client:
                for kind in kinds:
                    await client.subscribe(hub.topics.filter(kind), qos=0)
                if on_connect is not None:
                    await on_connect()
                hub.client, hub.connected, delay = client, True, 0.5
                log.info("broker_connected", host=options["hostname"], port=options["port"])
                async for message in client.messages:
                    hub.feed(str(message.topic), bytes(message.payload))
        except aiomqtt.MqttError as exc:
            if hub.connected:
                log.warning("broker_lost", error=str(exc))
            hub.client, hub.connected = None, False
        # Backoff with jitter so a restarted broker is not hit by every API at once.
        await asyncio.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 30.0)
