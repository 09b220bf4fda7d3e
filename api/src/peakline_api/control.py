"""The API side of verified control: accept, validate, record, publish, follow acks, expire.

`CommandService` is owned by the app's lifespan (`AppState.control`). It runs one MQTT
client of its own (QoS 1 both ways, so an ack published while the API restarts is still
delivered to its persistent session): commands go down on each device's command topic, acks
come up and move the ledger. A sweeper expires commands the edge never answered and
re-publishes accepted commands that could not be sent while the broker was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt
import structlog

from peakline_api.errors import ApiError, UnknownId
from peakline_api.ledger import CommandLedger, LedgerEntry
from peakline_api.live import mqtt_client_options
from peakline_api.registry import Registry
from peakline_api.settings import ApiSettings
from peakline_api.statedb import Leases, StateError
from peakline_core.control import (
    MAX_EXPIRES_IN_S,
    CommandRate,
    CommandRejected,
    expires_at_ns,
    validate_command,
)
from peakline_core.errors import PayloadError, TopicError
from peakline_core.wire import Command, CommandState, Topics, decode_ack, encode
from peakline_core.wire.topics import TopicKind

SWEEPER_LEASE = "commands.sweeper"
DR_LEASE = "dr.scheduler"


def replica_name(app: object) -> str:
    """This API process among its replicas and workers: host, pid, app (a lease's holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{id(app):x}"


@dataclass
class LeaseHolder:
    """One singleton job's lease (statedb/lease.py), asked before each pass of the job."""

    leases: Leases
    name: str
    holder: str
    ttl_ns: int
    clock_ns: Callable[[], int] = time.time_ns

    def held(self) -> bool:
        """Take or renew the lease; False (and no pass) when another replica holds it or the
        database cannot be reached (never two sweepers because one lost its database)."""
        try:
            return self.leases.hold(self.name, self.holder, self.clock_ns(), self.ttl_ns)
        except StateError:
            return False

    def release(self) -> None:
        with contextlib.suppress(StateError):
            self.leases.release(self.name, self.holder, self.clock_ns())


class CommandRefused(ApiError):
    """Validation refused the command; it is in the ledger as `rejected`."""

    status, code, title = 422, "command-rejected", "Command rejected"


class CommandConflict(ApiError):
    status, code, title = 409, "idempotency-conflict", "Idempotency key reused"


class CommandRateLimited(ApiError):
    status, code, title = 429, "rate-limited", "Too many commands for this device"


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """What an operator asks for (the POST body, validated by the router)."""

    site: str
    device: str
    point: str
    value: float | int | bool
    expires_in_s: float = 60.0
    idempotency_key: str | None = None
    dry_run: bool = False
    revert_after_s: float | None = None


def same_value(a: object, b: object) -> bool:
    """Equal and of the same kind: `True` is not `1.0` for a command (1 and 1.0 are the same
    number)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


class CommandService:
    """Accepts commands and keeps the ledger in step with the edge's acks."""

    def __init__(
        self,
        ledger: CommandLedger,
        registry: Registry,
        topics: Topics,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        max_commands_per_min: int = 30,
        expiry_grace_s: float = 5.0,
        sweep_every_s: float = 1.0,
        lease: LeaseHolder | None = None,
    ) -> None:
        self.ledger = ledger
        self.registry = registry
        self.topics = topics
        self.clock_ns = clock_ns
        self.rate = CommandRate(max_commands_per_min)
        self.grace_ns = int(expiry_grace_s * 1e9)
        self.sweep_every_s = sweep_every_s
        self.lease = lease
        """None: this process sweeps on its own (one API process per ledger)."""
        self.sweeps = 0
        """Sweeps this process ran (it held the sweeper lease for each)."""
        self.client: aiomqtt.Client | None = None
        self.acks_refused = 0
        """acks whose command, device or agent does not match (logged, not recorded)"""
        self._log = structlog.get_logger("peakline.api.control")

    # -- accepting
    def submit(self, spec: CommandSpec, issuer: str, origin: str | None = None) -> LedgerEntry:
        """Validate and record a command (publishing happens in `publish_pending`).

        Raises CommandRefused (recorded as rejected), CommandConflict, CommandRateLimited.
        A repeated idempotency key from the same issuer returns the first command.
        """
        if spec.idempotency_key is not None:
            earlier = self.ledger.by_idempotency_key(issuer, spec.idempotency_key)
            if earlier is not None:
                same = (
                    (earlier.site, earlier.device, earlier.point)
                    == (spec.site, spec.device, spec.point)
                    and same_value(earlier.value, spec.value)
                    and earlier.dry_run == spec.dry_run
                    and earlier.revert_after_s == spec.revert_after_s
                )
                if not same:
                    raise CommandConflict("this idempotency key was used for another command")
                return earlier
        device = self.registry.devices.get(spec.device)
        if device is None or device.site != spec.site:
            raise UnknownId(f"no device {spec.device!r} at site {spec.site!r}")
        config = self.registry.config
        now = self.clock_ns()
        if spec.revert_after_s is not None and not 0 < spec.revert_after_s <= MAX_EXPIRES_IN_S:
            # the same limit as POST /commands, for every caller (demand response included)
            raise CommandRefused(
                f"revert_after_s must be in (0, {MAX_EXPIRES_IN_S:g}] s", reason="revert_after"
            )
        try:
            expires = expires_at_ns(now, spec.expires_in_s)
        except CommandRejected as exc:
            raise CommandRefused(exc.detail, reason=exc.reason) from None
        # Rate first: a flood of invalid commands is refused before it reaches the ledger.
        try:
            self.rate.admit(device.id, now)
        except CommandRejected as exc:
            raise CommandRateLimited(exc.detail) from None
        command = Command(
            id=uuid.uuid4().hex,
            site=spec.site,
            device=spec.device,
            point=spec.point,
            value=spec.value,
            issued_at=now,
            expires_at=expires,
            issuer=issuer,
            idempotency_key=spec.idempotency_key,
            dry_run=spec.dry_run,
            revert_after_s=spec.revert_after_s,
            origin=origin,
        )
        try:
            validate_command(
                command,
                device=device,
                profile=config.profile_of(device),
                agent=config.agents.get(device.agent),
                now_ns=now,
            )
        except CommandRejected as exc:
            self.ledger.record(command, CommandState.REJECTED, str(exc), now)
            raise CommandRefused(exc.detail, reason=exc.reason, command_id=command.id) from None
        return self.ledger.record(command, CommandState.ACCEPTED, None, now)

    async def send(self, entry: LedgerEntry) -> LedgerEntry:
        """Publish an accepted command now if the broker is there (else the sweeper will)."""
        if entry.state is CommandState.ACCEPTED:
            await self._publish(entry)
        return self.ledger.get(entry.id)

    async def _publish(self, entry: LedgerEntry) -> None:
        client = self.client
        if client is None:
            return
        command = Command(
            id=entry.id,
            site=entry.site,
            device=entry.device,
            point=entry.point,
            value=entry.value,
            issued_at=entry.issued_at,
            expires_at=entry.expires_at,
            issuer=entry.issuer,
            idempotency_key=entry.idempotency_key,
            dry_run=entry.dry_run,
            revert_after_s=entry.revert_after_s,
            origin=entry.origin,
        )
        try:
            await client.publish(
                self.topics.command(entry.site, entry.device), encode(command), qos=1
            )
        except aiomqtt.MqttError as exc:
            self._log.warning("command publish failed; will retry", id=entry.id, error=str(exc))
            return
        self.ledger.transition(entry.id, CommandState.SENT, self.clock_ns(), source="api")

    # -- following the edge
    def on_ack(self, topic: str, payload: bytes) -> None:
        """Record one ack from the broker (bad ones are logged and dropped)."""
        try:
            parsed = self.topics.parse(topic)
            ack = decode_ack(payload)
        except (TopicError, PayloadError) as exc:
            self._log.warning("bad ack", topic=topic, error=str(exc))
            return
        if (parsed.site, parsed.device) != (ack.site, ack.device):
            self._log.warning("ack on another device's topic", topic=topic, id=ack.id)
            return
        # The command must be this device's, and the ack from the agent that polls it: a
        # gateway cannot settle another device's command by guessing or learning its id.
        device = self.registry.devices.get(ack.device)
        try:
            entry = self.ledger.get(ack.id)
        except KeyError:
            entry = None
        if (
            device is None
            or device.agent != ack.agent
            or entry is None
            or (entry.site, entry.device, entry.point) != (ack.site, ack.device, ack.point)
        ):
            self._log.warning("ack does not match its command", topic=topic, id=ack.id)
            self.acks_refused += 1
            return
        self.ledger.transition(
            ack.id,
            ack.state,
            ack.ts,
            source=f"edge:{ack.agent}",
            reason=ack.reason,
            readback=ack.readback,
            previous=ack.previous,
        )

    async def sweep(self) -> None:
        """Expire unanswered commands past expiry + grace; publish accepted ones not sent."""
        now = self.clock_ns()
        for entry in self.ledger.pending():
            if now >= entry.expires_at + self.grace_ns:
                self.ledger.transition(
                    entry.id,
                    CommandState.EXPIRED,
                    now,
                    source="sweeper",
                    reason="no outcome from the edge before expiry",
                )
            elif entry.state is CommandState.ACCEPTED:
                await self._publish(entry)

    async def run(self, settings: ApiSettings, client_id: str, *, persistent: bool = True) -> None:
        """Sweep forever; with a broker, also keep the command/ack connection (reconnecting).
        `persistent`: a persistent MQTT session (a stable client id), else a clean one."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._sweep_loop())
            if settings.broker_url is not None:
                group.create_task(self._follow(settings, client_id, persistent))

    async def _sweep_loop(self) -> None:
        """Sweep while holding the sweeper lease: one sweeper across the replicas sharing the
        ledger; the lease is released on a clean stop so another replica takes over at once."""
        try:
            while True:
                if self.lease is None or self.lease.held():
                    try:
                        await self.sweep()
                    except Exception:  # the next sweep retries; the ack follower keeps running
                        self._log.exception("command sweep failed")
                    self.sweeps += 1
                await asyncio.sleep(self.sweep_every_s)
        finally:
            if self.lease is not None:
                self.lease.release()

    async def _follow(self, settings: ApiSettings, client_id: str, persistent: bool) -> None:
        options = mqtt_client_options(settings)
        delay = 0.5
        while True:
            try:
                async with aiomqtt.Client(
                    **options, identifier=client_id, keepalive=30, clean_session=not persistent
                ) as client:
                    await client.subscribe(self.topics.filter(TopicKind.ACK), qos=1)
                    self.client, delay = client, 0.5
                    self._log.info(
                        "control connected", host=options["hostname"], port=options["port"]
                    )
                    async for message in client.messages:
                        self.on_ack(str(message.topic), bytes(message.payload))
            except aiomqtt.MqttError as exc:
                self._log.warning("control connection lost", error=str(exc))
            finally:
                self.client = None
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 30.0)


async def stop_task(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
