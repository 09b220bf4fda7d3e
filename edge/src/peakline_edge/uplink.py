"""The MQTT uplink: one persistent-session connection to the broker that drains the spool.

Batches are published at QoS 1 oldest first, many in flight at once, and deleted from the spool
only after their PUBACK (aiomqtt's publish returns when paho saw the ack). A publish that fails
gives its batch back to the spool; it is sent again after reconnecting. The agent state topic
carries a retained `online` birth message and an `offline` last will. Other parts of the agent
(MQTT sensors, the command executor) register subscriptions and publish through this client.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiomqtt
import structlog

from peakline_core.config.platform import Agent
from peakline_core.wire import AgentState, DeviceStatus, Topics, encode
from peakline_core.wire.broker import BrokerAddress
from peakline_edge.errors import EdgeError
from peakline_edge.metrics import EdgeMetrics
from peakline_edge.spool import AsyncSpool

Handler = Callable[[str, bytes], Awaitable[None]]
"""Called with (topic, payload) for each message matching a registered filter."""


class UplinkLost(EdgeError):
    """The broker connection went away while draining."""


async def wait_any(events: list[asyncio.Event], timeout: float | None = None) -> None:  # noqa: ASYNC109
    """Return when one of `events` is set or after `timeout` seconds (never raises)."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


class Uplink:
    """Owns the broker connection for the agent's lifetime (`run()`)."""

    def __init__(
        self,
        agent: Agent,
        spool: AsyncSpool,
        metrics: EdgeMetrics,
        *,
        version: str = "",
        max_inflight: int = 100,
        flush_timeout_s: float = 10.0,
        config_dir: Path | None = None,
    ) -> None:
        self.agent = agent
        self.cfg = agent.uplink
        self.topics = Topics(self.cfg.topic_prefix)
        self.spool = spool
        self.metrics = metrics
        self.version = version
        self.max_inflight = max_inflight
        self.flush_timeout_s = flush_timeout_s
        self.config_dir = config_dir
        self.connected = asyncio.Event()
        self.stop = asyncio.Event()  # set by the agent after the last readings are spooled
        self._handlers: list[tuple[str, Handler]] = []
        self._client: aiomqtt.Client | None = None
        self._statuses: dict[str, DeviceStatus] = {}
        self._dirty: set[str] = set()
        self._status_changed = asyncio.Event()
        self._lost = asyncio.Event()
        self._spool_sent: tuple[int, int] | None = None  # (readings, at ns) last reported
        self._log = structlog.get_logger("peakline.edge.uplink").bind(agent=agent.id)

    # -- the seams other components use ----------------------------------------------------

    def subscribe(self, topic_filter: str, handler: Handler) -> None:
        """Call `handler` for messages on `topic_filter` (subscribed now and on each connect)."""
        self._handlers.append((topic_filter, handler))
        if self._client is not None:
            client = self._client
            task = asyncio.ensure_future(client.subscribe(topic_filter, qos=1))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish at QoS 1 and return after the broker's ack, waiting for a connection."""
        while True:
            await self.connected.wait()
            client = self._client
            if client is None:
                continue
            try:
                await client.publish(topic, payload, qos=1, retain=retain)
                return
            except aiomqtt.MqttError:
                await asyncio.sleep(0.5)  # the reconnect loop owns the connection; retry after it

    async def report_spool(self, readings: int, oldest_age_s: float) -> None:
        """Republish the retained `online` agent state with the spool depth when the number of
        readings waiting changed or a minute passed, so the platform sees a backlog (alert
        rule `spool_backlog`). Only while connected, and never waits for a connection."""
        client = self._client
        if client is None or not self.connected.is_set():
            return
        now = time.time_ns()
        last = self._spool_sent
        if last is not None and last[0] == readings and now - last[1] < 60 * 10**9:
            return
        state = AgentState(
            agent=self.agent.id,
            state="online",
            ts=now,
            version=self.version,
            spool_readings=readings,
            spool_oldest_age_s=round(oldest_age_s, 1),
        )
        topic = self.topics.agent(self.agent.id)
        try:
            await asyncio.wait_for(client.publish(topic, encode(state), qos=1, retain=True), 5.0)
        except (aiomqtt.MqttError, TimeoutError):
            return  # the reconnect loop owns the connection; the next refresh tries again
        self._spool_sent = (readings, now)

    def set_status(self, status: DeviceStatus) -> None:
        """Latest availability of a device; published retained (latest wins if offline)."""
        self._statuses[status.device] = status
        self._dirty.add(status.device)
        self._status_changed.set()

    # -- lifetime ----------------------------------------------------------------------------

    def _client_for(self) -> aiomqtt.Client:
        password = None
        if self.cfg.password_file:
            password = Path(self._path(self.cfg.password_file) or "").read_text().strip()
        address = BrokerAddress.parse(self.cfg.broker).with_login(self.cfg.username, password)
        tls = None
        if address.tls or self.cfg.ca_file:
            tls = aiomqtt.TLSParameters(
                ca_certs=self._path(self.cfg.ca_file),
                certfile=self._path(self.cfg.cert_file),
                keyfile=self._path(self.cfg.key_file),
            )
        offline = AgentState(agent=self.agent.id, state="offline", ts=time.time_ns())
        client = aiomqtt.Client(
            address.host,
            address.port,
            identifier=f"peakline-edge-{self.agent.id}",
            clean_session=False,
            username=address.username,
            password=address.password,
            tls_params=tls,
            will=aiomqtt.Will(
                self.topics.agent(self.agent.id), encode(offline), qos=1, retain=True
            ),
            keepalive=30,
            timeout=10,
            max_inflight_messages=self.max_inflight,
        )
        # up to `max_inflight` publishes are pending by design (a spool drain): aiomqtt's
        # warning past 10 would log one line per publish
        client.pending_calls_threshold = self.max_inflight + 1
        return client

    def _path(self, name: str | None) -> str | None:
        if name is None or self.config_dir is None:
            return name
        return str((self.config_dir / name).resolve())

    async def run(self) -> None:
        """Connect, drain, reconnect with backoff and jitter; return after `stop` and a flush."""
        backoff = 0.5
        down_since: float | None = None
        while True:
            try:
                async with self._client_for() as client:
                    self._client = client
                    self._lost.clear()
                    self.connected.set()
                    self.metrics.uplink_connected.set(1)
                    if down_since is not None:
                        self._log.info(
                            "uplink reconnected", down_s=round(time.monotonic() - down_since, 1)
                        )
                    else:
                        self._log.info(
                            "uplink connected", broker=str(BrokerAddress.parse(self.cfg.broker))
                        )
                    down_since, backoff = None, 0.5
                    await self._session(client)
                    return
            except (aiomqtt.MqttError, UplinkLost) as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    self._log.warning("uplink down; spooling", error=str(exc))
            finally:
                self._client = None
                self.connected.clear()
                self.metrics.uplink_connected.set(0)
            if self.stop.is_set():
                self._log.warning("stopping while the broker is unreachable; spool kept on disk")
                return
            await wait_any([self.stop], timeout=backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, 30.0)

    async def _session(self, client: aiomqtt.Client) -> None:
        self._spool_sent = None  # the birth message carries no spool: report it again
        await client.publish(
            self.topics.agent(self.agent.id),
            encode(
                AgentState(
                    agent=self.agent.id, state="online", ts=time.time_ns(), version=self.version
                )
            ),
            qos=1,
            retain=True,
        )
        for topic_filter, _ in self._handlers:
            await client.subscribe(topic_filter, qos=1)
        self._dirty.update(self._statuses)
        self._status_changed.set()
        receiver = asyncio.create_task(self._receive(client))
        statuses = asyncio.create_task(self._publish_statuses(client))
        try:
            await self._drain(client)
        finally:
            for task in (receiver, statuses):
                task.cancel()
            await asyncio.gather(receiver, statuses, return_exceptions=True)
        offline = AgentState(
            agent=self.agent.id, state="offline", ts=time.time_ns(), version=self.version
        )
        await client.publish(self.topics.agent(self.agent.id), encode(offline), qos=1, retain=True)

    async def _receive(self, client: aiomqtt.Client) -> None:
        try:
            async for message in client.messages:
                payload = message.payload
                data = payload if isinstance(payload, bytes) else str(payload or "").encode()
                for topic_filter, handler in list(self._handlers):
                    if message.topic.matches(topic_filter):
                        try:
                            await handler(message.topic.value, data)
                        except Exception:  # a handler bug must not take the uplink down
                            self._log.exception("message handler failed", topic=message.topic.value)
        except aiomqtt.MqttError:
            pass
        finally:
            self._lost.set()

    async def _publish_statuses(self, client: aiomqtt.Client) -> None:
        while True:
            await self._status_changed.wait()
            self._status_changed.clear()
            while self._dirty:
                device = self._dirty.pop()
                s = self._statuses[device]
                await client.publish(
                    self.topics.status(s.site, s.device), encode(s), qos=1, retain=True
                )

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Publish spooled batches until `stop` (then flush what is left, with a deadline)."""
        changed = self.spool.changed
        while True:
            if self._lost.is_set():
                raise UplinkLost("connection lost")
            if self.stop.is_set():
                deadline = time.monotonic() + self.flush_timeout_s
                while time.monotonic() < deadline and await self._publish_some(client):
                    pass
                return
            changed.clear()
            if await self._publish_some(client):
                # linger so batches of many devices go out together (batching by time)
                if self.spool.pending_readings < self.cfg.batch_max_readings:
                    await wait_any(
                        [self.stop, self._lost, self.spool.full], self.cfg.batch_max_delay_s
                    )
                continue
            await wait_any([changed, self.stop, self._lost], timeout=1.0)

    async def _publish_some(self, client: aiomqtt.Client) -> int:
        """Publish up to `max_inflight` batches concurrently; ack the acknowledged ones."""
        batches = await self.spool.peek(self.max_inflight)
        if not batches:
            return 0
        results = await asyncio.gather(
            *(
                client.publish(self.topics.telemetry(b.site, b.device), b.payload, qos=1)
                for b in batches
            ),
            return_exceptions=True,
        )
        acked = [b.seq for b, r in zip(batches, results, strict=True) if r is None]
        failed = [b.seq for b, r in zip(batches, results, strict=True) if r is not None]
        await self.spool.ack(acked)
        self.metrics.published.inc(len(acked))
        if failed:
            await self.spool.release(failed)
            error = next(r for r in results if r is not None)
            raise UplinkLost(f"{len(failed)} publishes failed: {error}")
        return len(acked)
