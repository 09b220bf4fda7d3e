"""The ingest service: an MQTT 5 subscriber feeding the pipeline, reconnecting with backoff.

The subscriber uses a stable client id, `clean_start=False` and a session expiry, so the
broker keeps its subscription and unacknowledged messages while the worker is down; QoS 1
with manual acknowledgement, so a message is acknowledged only after the pipeline says it
was stored or dead-lettered; MQTT 5 Receive Maximum caps the messages in flight; an optional
shared subscription (`$share/<group>/...`) splits the stream among several workers; with
it, a restart guard (restart_guard.py) recovers what mosquitto 2.0 drops after a restart,
because it does not persist shared subscriptions.

`mqtt_protocol="3.1.1"` (brokers without MQTT 5, such as the demo's embedded amqtt) keeps
acknowledge-after-write by other means: `clean_session=False` instead of session expiry, and
no Receive Maximum to announce, so the cap on messages held is the broker's per-client QoS 1
in-flight window (mosquitto `max_inflight_messages`, default 20): with manual acks a message
stays unacknowledged until its durable write, and the broker sends no more past that window.
paho's `max_inflight_messages` (set from `max_in_flight`) bounds only our own publications.
3.1.1 has no shared subscriptions: set `share_group=None` (one worker per topic filter).
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import aiomqtt
import structlog
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from peakline_core.storage import StoreError
from peakline_core.wire import TopicKind, Topics
from peakline_core.wire.broker import BrokerAddress, BrokerUrlError
from peakline_ingest.acks import OrderedAcks
from peakline_ingest.deadletters import DeadLetters
from peakline_ingest.derive import Deriver, LateMarks
from peakline_ingest.errors import IngestError
from peakline_ingest.grid import GridSignals
from peakline_ingest.health import HealthServer
from peakline_ingest.metrics import IngestMetrics
from peakline_ingest.paho import paho_client
from peakline_ingest.pipeline import BatchPolicy, BlockStore, Pipeline
from peakline_ingest.processors import BatchProcessor, Publication
from peakline_ingest.restart_guard import GuardRefused, RestartGuard
from peakline_ingest.validate import DeviceIdentity, Limits, Validator

log = structlog.get_logger("peakline.ingest")


class IngestConfigError(IngestError):
    """Settings that cannot work (unreadable password file, 3.1.1 with a share group)."""


@dataclass(frozen=True, slots=True)
class IngestSettings:
    broker_url: str = "mqtt://127.0.0.1:1883"
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    username: str | None = None
    password: str | None = None
    password_file: Path | None = None  # read at connect time; wins over `password`
    ca_file: Path | None = None  # mqtts: the broker's CA (default: the system's CA store)
    cert_file: Path | None = None  # mqtts: a client certificate, if the broker wants one
    key_file: Path | None = None
    topic_prefix: str = "peakline"
    share_group: str | None = "ingest"  # None: a plain subscription (single worker)
    client_id: str = "peakline-ingest-1"  # stable per worker: the broker keeps its session
    session_expiry_s: int = 7 * 86400
    max_in_flight: int = 2000  # messages received and not yet acknowledged
    policy: BatchPolicy = field(default_factory=BatchPolicy)
    limits: Limits = field(default_factory=Limits)
    state_dir: Path = Path("/var/lib/peakline/ingest")
    health_host: str = "127.0.0.1"
    health_port: int | None = None
    shutdown_timeout_s: float = 30.0
    reconnect_max_s: float = 10.0
    restart_guard: bool = True  # with a share group over MQTT 5: see restart_guard.py
    lateness_s: float = 10.0  # the deriver's; batches older than half of it are marked late


class IngestService:
    """`await IngestService(settings, store).run(stop)` until `stop` is set; flushes on exit."""

    def __init__(
        self,
        settings: IngestSettings,
        store: BlockStore,
        devices: Mapping[str, DeviceIdentity] | None = None,
        processors: Sequence[BatchProcessor] = (),
        metrics: IngestMetrics | None = None,
        deriver: Deriver | None = None,
        grid_regions: Iterable[str] | None = None,
    ) -> None:
        """`grid_regions`: the regions whose grid intensity is stored (None: any)."""
        self.settings = settings
        self.store = store
        self.topics = Topics(settings.topic_prefix)
        self.metrics = metrics or IngestMetrics()
        self.acks = OrderedAcks()
        self.dead_letters = DeadLetters(self.topics, settings.state_dir / "dead-letters.jsonl")
        self.validator = Validator(self.topics, devices, settings.limits)
        self.grid = GridSignals(self.topics, grid_regions, settings.limits)
        self._client: aiomqtt.Client | None = None
        self.late_marks = LateMarks(settings.client_id, settings.lateness_s)
        self.deriver = deriver
        if deriver is not None:
            deriver.metrics = self.metrics
            if deriver.publish is None:
                deriver.publish = self._publish
        self.pipeline = Pipeline(
            store,
            self.validator,
            self.dead_letters,
            self.acks,
            self.metrics,
            settings.policy,
            [self.late_marks, *processors],
            publish=self._publish,
            late_marks=self.late_marks,
        )
        self.guard: RestartGuard | None = None
        if settings.share_group and settings.mqtt_protocol == "5" and settings.restart_guard:
            self.guard = RestartGuard(
                self.topics,
                settings.client_id,
                settings.share_group,
                settings.state_dir,
                self.pipeline,
                self.validator,
                self.metrics,
            )

    @property
    def subscription(self) -> str:
        topic_filter = self.topics.filter(TopicKind.TELEMETRY)
        group = self.settings.share_group
        return self.topics.shared(group, topic_filter) if group else topic_filter

    @property
    def grid_subscription(self) -> str:
        """Grid carbon intensity of every region (shared like telemetry: one worker stores a
        point; were it stored twice, the second write would be the same row)."""
        topic_filter = self.topics.filter(TopicKind.GRID)
        group = self.settings.share_group
        return self.topics.shared(group, topic_filter) if group else topic_filter

    async def ready(self) -> tuple[bool, str]:
        if self._client is None:
            return False, "not connected to the broker"
        try:
            await self.store.ping()
        except StoreError as exc:
            return False, f"store unavailable: {exc}"
        return True, "ready"

    async def _publish(self, publication: Publication) -> None:
        if self._client is None:
            raise aiomqtt.MqttError("not connected")
        await self._client.publish(
            publication.topic, publication.payload, qos=1, retain=publication.retain
        )

    def _password(self) -> str | None:
        path = self.settings.password_file
        if path is None:
            return self.settings.password
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise IngestConfigError(f"cannot read MQTT password file {path}: {exc}") from exc

    def _mqtt_client(self, client_id: str | None = None) -> aiomqtt.Client:
        settings = self.settings
        try:
            address = BrokerAddress.parse(settings.broker_url)
        except BrokerUrlError as exc:
            raise IngestConfigError(str(exc)) from None
        address = address.with_login(settings.username, self._password())
        tls = None
        if address.tls or settings.ca_file:
            tls = aiomqtt.TLSParameters(
                ca_certs=str(settings.ca_file) if settings.ca_file else None,
                certfile=str(settings.cert_file) if settings.cert_file else None,
                keyfile=str(settings.key_file) if settings.key_file else None,
            )
        window = max(1, min(65535, settings.max_in_flight))
        # A partial rather than a dict of options, so that mypy checks each one.
        connect = functools.partial(
            aiomqtt.Client,
            address.host,
            address.port,
            identifier=client_id or settings.client_id,
            username=address.username,
            password=address.password,
            tls_params=tls,
            keepalive=30,
            max_inflight_messages=window,
        )
        if settings.mqtt_protocol == "3.1.1":
            if settings.share_group is not None:
                raise IngestConfigError("MQTT 3.1.1 has no shared subscriptions: no share group")
            client = connect(protocol=aiomqtt.ProtocolVersion.V311, clean_session=False)
        else:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho's is unannotated
            props.SessionExpiryInterval = settings.session_expiry_s
            props.ReceiveMaximum = window
            client = connect(
                protocol=aiomqtt.ProtocolVersion.V5, clean_start=False, properties=props
            )
        # aiomqtt 2.5 has no manual_ack option; paho-mqtt 2 underneath does.
        paho_client(client).manual_ack_set(True)
        return client

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then flush what is held and acknowledge it."""
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        if self.settings.health_port is not None:
            async with HealthServer(
                self.settings.health_host,
                self.settings.health_port,
                self.metrics.registry,
                self.ready,
            ) as server:
                self.health_port = server.port
                await self._serve(stop)
        else:
            await self._serve(stop)

    async def _serve(self, stop: asyncio.Event) -> None:
        """The subscriber, and the deriver beside it when this worker runs one."""
        if self.deriver is None:
            await self._connect_loop(stop)
            return
        derive = asyncio.create_task(self.deriver.run(stop), name="deriver")
        try:
            await self._connect_loop(stop)
        finally:
            stop.set()
            await derive

    async def _connect_loop(self, stop: asyncio.Event) -> None:
        delay = 0.1
        while not stop.is_set():
            try:
                client = self._mqtt_client()
                async with client:
                    delay = 0.1
                    await self._session(client, stop)
                return
            except aiomqtt.MqttError as exc:
                log.warning("broker connection lost", error=str(exc), retry_s=round(delay, 2))
            finally:
                self._client = None
                self.acks.disconnected()
                if self.guard is not None:
                    self.guard.disconnected()
                self.dead_letters.connected(None)
                self.metrics.connected.set(0)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay * random.uniform(0.5, 1.0))
            except TimeoutError:
                pass
            delay = min(self.settings.reconnect_max_s, delay * 2)
        await self.pipeline.drain(self.settings.shutdown_timeout_s)

    async def _session(self, client: aiomqtt.Client, stop: asyncio.Event) -> None:
        paho = paho_client(client)
        self.acks.connected(lambda mid, qos: paho.ack(mid, qos))
        self.dead_letters.connected(lambda topic, body: client.publish(topic, body, qos=1))
        guard = self.guard
        async with AsyncExitStack() as stack:
            tasks: set[asyncio.Task[None]] = set()
            try:
                if guard is not None:
                    await guard.shared_lost(client)  # before subscribing: did the broker drop it?
                await client.subscribe(self.subscription, qos=1)
                await client.subscribe(self.grid_subscription, qos=1)
                if guard is not None:
                    await client.subscribe(guard.probe_filter, qos=1)
                    guard_client = self._mqtt_client(guard.client_id)
                    await stack.enter_async_context(guard_client)
                    stack.callback(guard.disconnected)
                    await guard.attach(guard_client)
                    tasks.add(asyncio.create_task(guard.consume(guard_client)))
            except GuardRefused as exc:
                raise IngestConfigError(
                    f"{exc} (grant the ingest account <prefix>/v1/ingest/#)"
                ) from exc
            self._client = client
            self.metrics.connected.set(1)
            await self.dead_letters.replay()
            log.info(
                "subscribed", subscription=self.subscription, client_id=self.settings.client_id
            )
            tasks.add(asyncio.create_task(self._consume(client)))
            ticker = asyncio.create_task(self._tick())
            stopper = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait({*tasks, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (*tasks, ticker, stopper):
                    task.cancel()  # no-op for the ones that are done
                await asyncio.gather(*tasks, ticker, stopper, return_exceptions=True)
            errors = [t.exception() for t in tasks if t.done() and not t.cancelled()]
            for error in errors:
                if error is not None:
                    raise error
            if not stop.is_set():
                raise aiomqtt.MqttError("the message stream ended")
            # Clean shutdown: write what is held and acknowledge it on these connections.
            flushed = await self.pipeline.drain(self.settings.shutdown_timeout_s)
            log.info("ingest stopped", flushed=flushed)

    async def _consume(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            token = self.acks.register(message.mid, message.qos)
            payload = message.payload
            data = payload if isinstance(payload, bytes) else str(payload).encode()
            topic = message.topic.value
            if self.grid.owns(topic):
                await self.pipeline.handle_grid(self.grid, topic, data, token)
            else:
                await self.pipeline.handle(topic, data, token)

    async def _tick(self) -> None:
        period = max(0.01, self.settings.policy.batch_delay_s / 4)
        while True:
            await asyncio.sleep(period)  # the batch-age clock, not a wait on a condition
            if self.pipeline.due():
                await self.pipeline.flush()
