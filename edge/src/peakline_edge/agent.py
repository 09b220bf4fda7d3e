"""The edge agent: wires pollers, MQTT sensors, the spool writer, the uplink, metrics and the
health file for one agent id, and shuts down cleanly (stop polling, spool what is held, flush
to the broker within a deadline, publish `offline`).

The command executor (peakline_edge.control) plugs in through `devices` and
`bacnet_devices` (each has `write_point`/`read_point`/`revert_point`) and
`uplink.subscribe` / `uplink.publish`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import structlog

from peakline_core.config import PlatformConfig
from peakline_core.config.platform import (
    BacnetIp,
    ModbusRtu,
    ModbusRtuOverTcp,
    ModbusTcp,
    MqttSource,
)
from peakline_core.config.profiles import BacnetProfile, ModbusProfile, MqttProfile
from peakline_core.wire import Topics
from peakline_edge.bacnet.client import BacnetClient
from peakline_edge.bacnet.cov import CovWatcher
from peakline_edge.bacnet.device import BacnetDevice
from peakline_edge.bus import BusKey, ModbusBus, bus_key
from peakline_edge.control import CommandExecutor, HoldStore, Target
from peakline_edge.device import ModbusDevice
from peakline_edge.errors import EdgeError, SpoolError
from peakline_edge.metrics import EdgeMetrics, write_health
from peakline_edge.mqtt_source import MqttSourceDevice
from peakline_edge.poller import DevicePoller
from peakline_edge.schedule import Availability
from peakline_edge.spool import AsyncSpool, PendingBatch, Spool
from peakline_edge.uplink import Uplink

VERSION = "0.1.0"


async def _finish(tasks: list[asyncio.Task[Any]], grace_s: float) -> bool:
    """Let `tasks` end within `grace_s`, then cancel the rest; never hangs (a task that swallows
    its cancellation, as Python 3.11's wait_for can, is abandoned after a second).
    Returns whether all ended on their own."""
    if not tasks:
        return True
    _, pending = await asyncio.wait(tasks, timeout=grace_s) if grace_s > 0 else (set(), set(tasks))
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.wait(pending, timeout=1.0)
    return not pending


class EdgeAgent:
    """One agent's devices and connections. `await agent.run(stop)` until `stop` is set."""

    def __init__(
        self,
        config: PlatformConfig,
        agent_id: str,
        state_dir: Path,
        *,
        metrics: EdgeMetrics | None = None,
        health_interval_s: float = 2.0,
        queue_size: int = 2000,
        fail_after: int = 3,
        probe_min_s: float = 5.0,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        """`clock_ns` stamps readings and drives availability (UTC ns). Production keeps the
        gateway's clock; a backfill passes a simulator's clock and polls with `poll_all`."""
        if agent_id not in config.agents:
            raise EdgeError(f"agent {agent_id!r} is not in {config.root}/agents.yaml")
        self.config = config
        self.agent = config.agents[agent_id]
        self.state_dir = state_dir
        self.metrics = metrics or EdgeMetrics()
        self.health_interval_s = health_interval_s
        self.clock_ns = clock_ns
        self.cycle_grace_s = 5.0  # how long a stop waits for poll cycles in progress
        self._log = structlog.get_logger("peakline.edge.agent").bind(agent=agent_id)
        state_dir.mkdir(parents=True, exist_ok=True)
        spool_cfg = self.agent.spool
        self.spool = AsyncSpool(
            Spool(
                state_dir / spool_cfg.path,
                agent_id,
                max_bytes=spool_cfg.max_bytes,
                max_age_s=spool_cfg.max_age_s,
                synchronous=spool_cfg.synchronous,
            ),
            full_at_readings=self.agent.uplink.batch_max_readings,
        )
        self.uplink = Uplink(
            self.agent, self.spool, self.metrics, version=VERSION, config_dir=config.root
        )
        self.queue: asyncio.Queue[PendingBatch] = asyncio.Queue(queue_size)
        self.buses: dict[BusKey, ModbusBus] = {}
        self.devices: dict[str, ModbusDevice] = {}
        self.pollers: list[DevicePoller] = []
        self.sources: list[MqttSourceDevice] = []
        self.bacnet: BacnetClient | None = None  # the agent's BACnet port, if it has devices
        self.bacnet_devices: dict[str, BacnetDevice] = {}
        self.cov: list[CovWatcher] = []  # BACnet devices with `cov_lifetime_s`
        self._subscribing = asyncio.Semaphore(4)  # SubscribeCOV in flight, agent-wide
        self._build(fail_after, probe_min_s)
        self.executor = self._build_executor(state_dir)
        self.started_ns = time.time_ns()

    def _build_executor(self, state_dir: Path) -> CommandExecutor:
        """The command executor: its holds live in the state dir's control.db."""
        executor = CommandExecutor(
            self.agent,
            {i: Target(d.device, d.profile, d) for i, d in self.devices.items()}
            | {i: Target(d.device, d.profile, d) for i, d in self.bacnet_devices.items()},
            self.uplink.publish,
            Topics(self.agent.uplink.topic_prefix),
            HoldStore(state_dir / "control.db"),
            clock_ns=self.clock_ns,  # holds end on the agent's clock (a stepped one in a backfill)
            on_outcome=lambda device, state: self.metrics.commands.labels(device, state).inc(),
        )

        async def on_command(_topic: str, payload: bytes) -> None:
            executor.submit(payload)

        for topic in executor.subscriptions():
            self.uplink.subscribe(topic, on_command)
        return executor

    def _build(self, fail_after: int, probe_min_s: float) -> None:
        devices = self.config.devices_of(self.agent.id)
        timeouts: dict[BusKey, float] = {}
        for d in devices:
            if isinstance(d.connection, ModbusTcp | ModbusRtu | ModbusRtuOverTcp):
                key = bus_key(d.connection)
                timeouts[key] = max(timeouts.get(key, 0.0), d.connection.timeout_s)
        for d in devices:
            profile = self.config.profile_of(d)
            if isinstance(d.connection, ModbusTcp | ModbusRtu | ModbusRtuOverTcp):
                if not isinstance(profile, ModbusProfile):
                    raise EdgeError(f"{d.id}: a Modbus device needs a modbus profile")
                key = bus_key(d.connection)
                bus = self.buses.get(key) or self.buses.setdefault(
                    key, ModbusBus(d.connection, timeouts[key])
                )
                device = ModbusDevice(d, profile, bus, clock_ns=self.clock_ns)
                self.devices[d.id] = device
                availability = Availability(fail_after=fail_after, probe_min_s=probe_min_s)
                self.pollers.append(
                    DevicePoller(
                        device,
                        self.agent.id,
                        self.submit,
                        self.uplink.set_status,
                        self.metrics,
                        availability=availability,
                        clock_ns=self.clock_ns,
                    )
                )
            elif isinstance(d.connection, BacnetIp):
                if not isinstance(profile, BacnetProfile):
                    raise EdgeError(f"{d.id}: a BACnet device needs a bacnet profile")
                if self.bacnet is None:
                    port = self.agent.bacnet
                    self.bacnet = BacnetClient(
                        port.address,
                        port.instance,
                        timeout_s=d.connection.timeout_s,
                        foreign_bbmd=port.foreign_bbmd,
                        foreign_ttl_s=port.foreign_ttl_s,
                    )
                self.bacnet.timeout_s = max(self.bacnet.timeout_s, d.connection.timeout_s)
                bdev = BacnetDevice(d, profile, self.bacnet, clock_ns=self.clock_ns)
                self.bacnet_devices[d.id] = bdev
                if d.connection.cov_lifetime_s is not None:
                    self.cov.append(
                        CovWatcher(
                            bdev,
                            self.submit,
                            self.metrics,
                            d.connection.cov_lifetime_s,
                            subscribing=self._subscribing,
                            clock_ns=self.clock_ns,
                        )
                    )
                self.pollers.append(
                    DevicePoller(
                        bdev,
                        self.agent.id,
                        self.submit,
                        self.uplink.set_status,
                        self.metrics,
                        availability=Availability(fail_after=fail_after, probe_min_s=probe_min_s),
                        clock_ns=self.clock_ns,
                    )
                )
            elif isinstance(d.connection, MqttSource):
                if not isinstance(profile, MqttProfile):
                    raise EdgeError(f"{d.id}: an MQTT device needs an mqtt profile")
                source = MqttSourceDevice(
                    d, profile, self.submit, self._source_error(d.id), clock_ns=self.clock_ns
                )
                self.sources.append(source)
                if source.broker is None:
                    self.uplink.subscribe(source.topic, source.handle)

    def _source_error(self, device: str) -> Callable[[str], None]:
        return lambda kind: self.metrics.errors.labels(device, kind).inc()

    async def submit(self, batch: PendingBatch) -> None:
        """Hand a batch to the spool writer (waits when the writer is behind: backpressure)."""
        await self.queue.put(batch)

    async def poll_all(self) -> None:
        """One cycle of every Modbus device, all points, at the clock's current time (a
        backfill steps a simulated clock and calls this once per step)."""
        await asyncio.gather(*(p.cycle(p.all_points()) for p in self.pollers))

    async def run(self, stop: asyncio.Event, *, scheduled: bool = True) -> None:
        """Run until `stop`. `scheduled` False: no poll loops; the caller polls with
        `poll_all` (spool, uplink, MQTT sensors and commands run as usual)."""
        polling = asyncio.Event()  # set: pollers finish their cycle and return
        async with AsyncExitStack() as stack:
            for bus in self.buses.values():
                await stack.enter_async_context(bus)
            if self.bacnet is not None:
                await stack.enter_async_context(self.bacnet)
            uplink = asyncio.create_task(self.uplink.run(), name="uplink")
            writer = asyncio.create_task(self._write_spool(), name="spool-writer")
            aux = [
                asyncio.create_task(self._housekeeping(), name="housekeeping"),
                asyncio.create_task(self.executor.run(), name="commands"),
                *(asyncio.create_task(s.run_own_broker()) for s in self.sources if s.broker),
                *(asyncio.create_task(w.run(), name=f"cov-{w.device.id}") for w in self.cov),
            ]
            pollers = [
                asyncio.create_task(p.run(polling), name=f"poll-{p.device.id}")
                for p in (self.pollers if scheduled else [])
            ]
            self._log.info(
                "agent started",
                devices=len(self.devices) + len(self.bacnet_devices) + len(self.sources),
                buses=len(self.buses),
            )
            stopper = asyncio.create_task(stop.wait())
            everything = {stopper, uplink, writer, *aux, *pollers}
            done, _ = await asyncio.wait(everything, return_when=asyncio.FIRST_COMPLETED)
            crashed = [t for t in done if t is not stopper and not t.cancelled() and t.exception()]
            for t in crashed:
                self._log.error("task failed", task=t.get_name(), error=repr(t.exception()))
            self._log.info("stopping: spooling what is held, flushing the uplink")
            # pollers finish the cycle in progress (its readings are spooled, not lost)
            polling.set()
            await _finish(pollers, self.cycle_grace_s)
            await self._drain_queue()
            await _finish([writer], 0)
            self.uplink.stop.set()
            if not await _finish([uplink], self.uplink.flush_timeout_s + 5):
                self._log.warning(
                    "uplink did not finish its flush in time; the spool keeps the rest"
                )
            await _finish([*aux, stopper], 0)
            await self._refresh()
            await self.spool.aclose()
            self.executor.holds.close()
            self._log.info("agent stopped")
            if crashed:
                raise EdgeError(f"task {crashed[0].get_name()} failed") from crashed[0].exception()

    async def _drain_queue(self) -> None:
        """Spool whatever the pollers already handed over (nothing produced is left in memory)."""
        await self.queue.join()

    async def _write_spool(self) -> None:
        """Group commit: everything queued goes to disk in one transaction."""
        delay = 0.5
        while True:
            items = [await self.queue.get()]
            while not self.queue.empty() and len(items) < 1000:
                items.append(self.queue.get_nowait())
            while True:
                try:
                    dropped = await self.spool.append(items)
                    break
                except SpoolError as exc:
                    self._log.error("spool write failed; retrying", error=str(exc))
                    await asyncio.sleep(delay)  # backoff while the disk is failing
                    delay = min(delay * 2, 30.0)
            delay = 0.5
            for _ in items:
                self.queue.task_done()
            self._report_drops(dropped)

    def _report_drops(self, dropped: list[Any]) -> None:
        for d in dropped:
            self._log.warning(
                "spool over its bound: dropped oldest batches",
                reason=d.reason,
                batches=d.batches,
                readings=d.readings,
            )

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.health_interval_s)  # periodic, not synchronisation
            self._report_drops(await self.spool.expire())
            await self._refresh()

    async def _refresh(self) -> None:
        """Spool gauges and the health file."""
        stats = await self.spool.stats()
        now = time.time_ns()
        m = self.metrics
        m.spool_batches.set(stats.batches)
        m.spool_readings.set(stats.readings)
        m.spool_bytes.set(stats.bytes)
        age = 0.0 if stats.oldest_ns is None else max(0.0, (now - stats.oldest_ns) / 1e9)
        m.spool_oldest_age.set(age)
        m.dropped_readings.set(stats.dropped_readings)
        m.dropped_batches.set(stats.dropped_batches)
        health = {
            "agent": self.agent.id,
            "ts": now,
            "uptime_s": round((now - self.started_ns) / 1e9, 1),
            "uplink_connected": self.uplink.connected.is_set(),
            "devices": {p.device.id: p.availability.state.value for p in self.pollers},
            "spool": {
                "batches": stats.batches,
                "readings": stats.readings,
                "bytes": stats.bytes,
                "oldest_age_s": round(age, 3),
                "dropped_batches": stats.dropped_batches,
                "dropped_readings": stats.dropped_readings,
            },
        }
        await asyncio.to_thread(write_health, self.state_dir / "health.json", health)
        await self.uplink.report_spool(stats.readings, age)
