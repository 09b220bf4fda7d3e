"""The command executor: validate again, write, read back, confirm, acknowledge; revert holds.

The edge never trusts the platform: each command is decoded and validated with the agent's own
configuration and clock (`peakline_core.control.validate_command`, the same function the API
runs), against the value it reads from the device just before writing. A command that arrives
after its expiry is acknowledged `expired` and not executed. Every outcome is acknowledged on
the device's ack topic; a redelivered command gets its first outcome again.

Per device, commands run one at a time (a device lock); the bus lock below serialises frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import structlog

from peakline_core.config.platform import Agent, Device
from peakline_core.config.profiles import BacnetPoint, BacnetProfile, ModbusPoint, ModbusProfile
from peakline_core.control import (
    ChangeWindow,
    CommandExpired,
    CommandRate,
    CommandRejected,
    ValidWrite,
    check_not_expired,
    validate_command,
)
from peakline_core.errors import PayloadError
from peakline_core.wire import Command, CommandAck, CommandState, Topics, decode_command, encode
from peakline_edge.control.holds import Hold, HoldStore
from peakline_edge.errors import DeviceError, EdgeError, NotConfirmed, WriteRefused

Value = float | int | bool | str | None
Publish = Callable[[str, bytes], Awaitable[None]]
"""Publishes (topic, payload) at QoS 1 on the agent's uplink."""


class PointWriter(Protocol):
    """What the executor needs of a device (peakline_edge.device.ModbusDevice and
    peakline_edge.bacnet.device.BacnetDevice have it)."""

    async def write_point(self, point_name: str, value: float | int | bool) -> Value: ...

    async def read_point(self, point_name: str) -> Value: ...

    async def revert_point(self, point_name: str, previous: float | int | bool) -> Value:
        """End a hold: Modbus writes `previous` back, BACnet relinquishes its priority."""
        ...


@dataclass(frozen=True, slots=True)
class Target:
    device: Device
    profile: ModbusProfile | BacnetProfile
    writer: PointWriter

    @property
    def relinquishes(self) -> bool:
        """A revert releases a priority (BACnet): the value after it is the device's own
        (schedule, relinquish default), not the hold's `previous`; the device checks the slot."""
        return isinstance(self.profile, BacnetProfile)


# BACnet REAL is a 32-bit float: 22.3 reads back as 22.299999237...
_FLOAT32_RELATIVE = 1e-6


def confirmed(point: ModbusPoint | BacnetPoint, wanted: float | bool, readback: Value) -> bool:
    """True when `readback` shows `wanted`, within the register's resolution (half a scale
    unit, or half a step) for numeric points; within a REAL's precision for BACnet."""
    if isinstance(wanted, bool):
        return isinstance(readback, bool | int) and bool(readback) is wanted
    if not isinstance(readback, int | float) or isinstance(readback, bool):
        return False
    step = point.writable.step if point.writable and point.writable.step else 0.0
    if isinstance(point, BacnetPoint):
        resolution = _FLOAT32_RELATIVE * max(1.0, abs(wanted))
    else:
        resolution = max(abs(point.scale) / 2, 1e-9 * max(1.0, abs(wanted)))
    tolerance = max(resolution, step / 2)
    return math.isfinite(readback) and abs(readback - wanted) <= tolerance


@dataclass
class ExecutorStats:
    received: int = 0
    undecodable: int = 0
    dropped: int = 0  # queue full
    outcomes: dict[str, int] = field(default_factory=dict)


class CommandExecutor:
    """Runs the agent's commands. `submit()` from the MQTT handler, `run()` in the supervisor."""

    def __init__(
        self,
        agent: Agent,
        targets: Mapping[str, Target],
        publish: Publish,
        topics: Topics,
        holds: HoldStore,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
        attempts: int = 3,
        retry_delay_s: float = 0.5,
        max_commands_per_min: int = 30,
        queue_size: int = 100,
        on_outcome: Callable[[str, CommandState], None] = lambda device, state: None,
    ) -> None:
        self.agent = agent
        self.targets = dict(targets)
        self.publish = publish
        self.topics = topics
        self.holds = holds
        self.clock_ns = clock_ns
        self.attempts = attempts
        self.retry_delay_s = retry_delay_s
        self.rate = CommandRate(max_commands_per_min)
        self.changes = ChangeWindow()
        self.stats = ExecutorStats()
        self.on_outcome = on_outcome
        """Called with (device, state) for every ack sent (the agent counts them in metrics)."""
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(queue_size)
        self._locks = {d: asyncio.Lock() for d in self.targets}
        self._holds_changed = asyncio.Event()
        self._rng = random.Random()
        self._log = structlog.get_logger("peakline.edge.control").bind(agent=agent.id)

    # -- wiring
    def subscriptions(self) -> list[str]:
        """Command topics of this agent's writable-or-not devices (read-only ones too: their
        commands must be acknowledged `rejected`, not left to expire)."""
        return [self.topics.command(t.device.site, t.device.id) for t in self.targets.values()]

    def submit(self, payload: bytes) -> None:
        """Queue one command payload (from the uplink's message handler; never blocks)."""
        self.stats.received += 1
        try:
            self._queue.put_nowait(payload)
        except asyncio.QueueFull:
            self.stats.dropped += 1
            self._log.warning("command queue full; command dropped (it will expire)")

    async def run(self) -> None:
        """Execute queued commands and revert holds (restored first after a restart)."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._revert_loop())
            while True:
                payload = await self._queue.get()
                group.create_task(self._guarded(payload))

    async def _guarded(self, payload: bytes) -> None:
        try:
            await self.execute(payload)
        except EdgeError as exc:  # e.g. the state file failed: log, keep serving others
            self._log.error("command execution failed", error=str(exc))

    # -- one command
    async def execute(self, payload: bytes) -> CommandAck | None:
        """Execute one command payload end to end and publish its ack (returned too)."""
        try:
            command = decode_command(payload)
        except PayloadError as exc:
            self.stats.undecodable += 1
            self._log.warning("undecodable command", reason=exc.reason, detail=exc.detail)
            return None
        previous_ack = self.holds.outcome(command.id)
        if previous_ack is not None:  # QoS 1 redelivery or a retried POST: same answer
            await self._publish_raw(command, previous_ack)
            return None
        target = self.targets.get(command.device)
        if target is None or target.device.site != command.site:
            return await self._finish(command, CommandState.REJECTED, "unknown_device: not mine")
        lock = self._locks[command.device]
        async with lock:
            return await self._execute(command, target)

    async def _execute(self, command: Command, target: Target) -> CommandAck:
        try:
            valid = validate_command(
                command,
                device=target.device,
                profile=target.profile,
                agent=self.agent,
                now_ns=self.clock_ns(),
            )
            self.rate.admit(command.device, self.clock_ns())
            current = await self._read_until_expiry(command, target)
            anchor = None
            if isinstance(current, int | float) and not isinstance(current, bool):
                anchor = self.changes.anchor(
                    command.device, command.point, self.clock_ns(), current
                )
            valid = validate_command(
                command,
                device=target.device,
                profile=target.profile,
                agent=self.agent,
                now_ns=self.clock_ns(),
                anchor=anchor,
            )
        except CommandExpired as exc:
            return await self._finish(command, CommandState.EXPIRED, str(exc))
        except CommandRejected as exc:
            return await self._finish(command, CommandState.REJECTED, str(exc))
        if command.dry_run:
            return await self._finish(
                command, CommandState.APPLIED, "dry_run: valid, not written", current, current
            )
        return await self._write(command, target, valid, current)

    async def _read_until_expiry(self, command: Command, target: Target) -> Value:
        """The point's value now; an unreachable device is retried until the command expires."""
        delay = self.retry_delay_s
        while True:
            try:
                return await target.writer.read_point(command.point)
            except DeviceError as exc:
                check_not_expired(command.expires_at, self.clock_ns() + int(delay * 1e9))
                self._log.info(
                    "device unreachable, retrying", device=command.device, error=str(exc)
                )
                await asyncio.sleep(delay * (0.5 + self._rng.random()))
                delay = min(delay * 2, 10.0)

    async def _write(
        self, command: Command, target: Target, valid: ValidWrite, current: Value
    ) -> CommandAck:
        readback: Value = None
        reason = "no attempt"
        for attempt in range(1, self.attempts + 1):
            try:
                readback = await target.writer.write_point(command.point, valid.value)
            except WriteRefused as exc:
                return await self._finish(command, CommandState.REJECTED, str(exc), None, current)
            except DeviceError as exc:
                reason = f"attempt {attempt}: {exc}"
                with contextlib.suppress(DeviceError):
                    readback = await target.writer.read_point(command.point)
            if confirmed(valid.point, valid.value, readback):
                return await self._applied(command, target, valid, readback, current)
            if reason == "no attempt" or not reason.startswith(f"attempt {attempt}"):
                reason = f"attempt {attempt}: read back {readback!r}, wanted {valid.value!r}"
            if attempt < self.attempts:
                await asyncio.sleep(self.retry_delay_s * attempt)
        return await self._finish(
            command, CommandState.FAILED, f"not confirmed: {reason}", readback, current
        )

    async def _applied(
        self, command: Command, target: Target, valid: ValidWrite, readback: Value, current: Value
    ) -> CommandAck:
        now = self.clock_ns()
        if isinstance(current, int | float) and not isinstance(current, bool):
            self.changes.record(command.device, command.point, now, float(current))
        earlier = self.holds.hold_on(command.device, command.point)
        if command.revert_after_s is not None and isinstance(current, int | float):
            # A hold on a held point keeps the value from before the first hold.
            previous = earlier.previous if earlier is not None else current
            self.holds.put_hold(
                Hold(
                    command.id,
                    command.site,
                    command.device,
                    command.point,
                    previous,
                    valid.value,
                    now + int(command.revert_after_s * 1e9),
                )
            )
            self._holds_changed.set()
        elif earlier is not None:  # an explicit write ends the hold: the operator took over
            self.holds.drop_holds_on(command.device, command.point)
            self._holds_changed.set()
        return await self._finish(command, CommandState.APPLIED, None, readback, current)

    # -- reverts
    def clock_moved(self) -> None:
        """A stepped clock jumped (a backfill): look at the holds' revert times again."""
        self._holds_changed.set()

    def holds_due(self) -> int:
        """Holds whose revert time has come on this executor's clock (not reverted yet)."""
        now = self.clock_ns()
        return sum(1 for h in self.holds.holds() if h.revert_at <= now)

    async def _revert_loop(self) -> None:
        while True:
            self._holds_changed.clear()
            holds = self.holds.holds()
            now = self.clock_ns()
            due = [h for h in holds if h.revert_at <= now]
            for hold in due:
                await self.revert(hold)
            if due:
                continue
            wait_s = None if not holds else max(0.0, (holds[0].revert_at - now) / 1e9)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._holds_changed.wait(), wait_s)

    async def revert(self, hold: Hold) -> None:
        """Restore a hold's previous value (Modbus) or relinquish its priority (BACnet); a
        revert the device does not answer stays held and is retried."""
        target = self.targets.get(hold.device)
        if target is None:
            self._log.error("hold for a device this agent no longer has; dropped", hold=hold)
            self.holds.drop_hold(hold.command_id)
            return
        point = target.profile.point(hold.point)
        async with self._locks[hold.device]:
            problem = None
            try:
                readback = await target.writer.revert_point(hold.point, hold.previous)
            except NotConfirmed as exc:
                readback, problem = exc.readback, str(exc)
            except WriteRefused as exc:
                self._log.error("revert refused; hold dropped", hold=hold, error=str(exc))
                self.holds.drop_hold(hold.command_id)
                return
            except DeviceError as exc:
                self._log.warning("revert failed; retrying", hold=hold, error=str(exc))
                self.holds.put_hold(
                    dataclasses.replace(hold, revert_at=self.clock_ns() + 5_000_000_000)
                )
                return
        wanted = hold.previous if isinstance(hold.previous, bool) else float(hold.previous)
        state = CommandState.REVERTED
        reason = problem
        if reason is None and not target.relinquishes and not confirmed(point, wanted, readback):
            reason = f"revert read back {readback!r}"
        self.holds.drop_hold(hold.command_id)
        ack = CommandAck(
            id=hold.command_id,
            agent=self.agent.id,
            site=hold.site,
            device=hold.device,
            point=hold.point,
            state=state if reason is None else CommandState.FAILED,
            ts=self.clock_ns(),
            reason=reason,
            readback=readback,
            previous=hold.held,
        )
        self._count(hold.device, ack.state)
        await self.publish(self.topics.ack(hold.site, hold.device), encode(ack))

    # -- acks
    async def _finish(
        self,
        command: Command,
        state: CommandState,
        reason: str | None,
        readback: Value = None,
        previous: Value = None,
    ) -> CommandAck:
        ack = CommandAck(
            id=command.id,
            agent=self.agent.id,
            site=command.site,
            device=command.device,
            point=command.point,
            state=state,
            ts=self.clock_ns(),
            reason=None if reason is None else reason[:1024],
            readback=readback,
            previous=previous,
        )
        data = encode(ack)
        self.holds.put_outcome(command.id, command.idempotency_key, data, ack.ts)
        self._count(command.device, state)
        self._log.info(
            "command", id=command.id, device=command.device, state=state.value, reason=reason
        )
        await self._publish_raw(command, data)
        return ack

    async def _publish_raw(self, command: Command, data: bytes) -> None:
        await self.publish(self.topics.ack(command.site, command.device), data)

    def _count(self, device: str, state: CommandState) -> None:
        self.stats.outcomes[state.value] = self.stats.outcomes.get(state.value, 0) + 1
        self.on_outcome(device, state)
