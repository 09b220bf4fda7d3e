"""The poll loop of one Modbus or BACnet device: ticks on wall-clock boundaries, reads the due
points, hands the readings to the spool writer, tracks availability (logged once per transition and
published as a retained DeviceStatus), and probes an unavailable device with back-off."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from peakline_core.wire import DeviceStatus
from peakline_edge.bacnet.device import BacnetDevice
from peakline_edge.device import ModbusDevice
from peakline_edge.metrics import EdgeMetrics
from peakline_edge.schedule import NS, Availability, DeviceState, next_tick, stagger_offset_ns
from peakline_edge.spool import PendingBatch

Sink = Callable[[PendingBatch], Awaitable[None]]


class DevicePoller:
    def __init__(
        self,
        device: ModbusDevice | BacnetDevice,
        agent: str,
        sink: Sink,
        set_status: Callable[[DeviceStatus], None],
        metrics: EdgeMetrics,
        *,
        availability: Availability | None = None,
        stagger_s: float | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.device = device
        self.agent = agent
        self._sink = sink
        self._set_status = set_status
        self.metrics = metrics
        self.availability = availability or Availability()
        self._clock = clock_ns
        self.groups: dict[int, list[Any]] = {}  # Modbus or BACnet points, per interval
        points: list[Any] = list(device.profile.points)
        for p in points:
            self.groups.setdefault(int(device.interval_of(p) * NS), []).append(p)
        fastest = min(self.groups)
        spread = int(stagger_s * NS) if stagger_s is not None else None
        self.offset_ns = stagger_offset_ns(device.id, fastest, spread)
        self.last_ok: int | None = None
        self._announced = False
        self._log = structlog.get_logger("peakline.edge.poller").bind(device=device.id)
        metrics.available.labels(device.id).set(1)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Poll until `stop` is set (the cycle in progress is finished) or until cancelled."""
        stop = stop or asyncio.Event()
        while not stop.is_set():
            now = self._clock()
            tick, due = next_tick(now, self.groups, self.offset_ns)
            if not self.availability.available:
                # probe at the back-off time, on the next boundary after it
                tick, due = next_tick(
                    max(now, self.availability.next_probe_ns), self.groups, self.offset_ns
                )
            delay = max(0.0, (tick - self._clock()) / NS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)  # the wall-clock schedule
            if stop.is_set():
                return
            points = [p for interval in sorted(due) for p in self.groups[interval]]
            await self.cycle(points)

    def all_points(self) -> list[Any]:
        """Every point of the device, fastest interval first (as when all are due)."""
        return [p for interval in sorted(self.groups) for p in self.groups[interval]]

    async def cycle(self, points: list[Any]) -> None:
        """One poll of `points`: readings to the sink, metrics, availability transitions."""
        dev = self.device
        result = await dev.poll(points)
        now = self._clock()
        self.metrics.cycles.labels(dev.id).inc()
        self.metrics.requests.labels(dev.id).inc(result.requests)
        for error in result.failed:
            self.metrics.errors.labels(dev.id, error.reason).inc()
        was_available = self.availability.available
        transition = self.availability.record(result.reachable, now)
        if result.reachable:
            self.last_ok = now
        if transition is DeviceState.UNAVAILABLE:
            reason = str(result.failed[0]) if result.failed else "no answer"
            self._log.warning(
                "device unavailable", failures=self.availability.failures, reason=reason
            )
            self._status(DeviceState.UNAVAILABLE, reason)
        elif transition is DeviceState.ONLINE:
            self._log.info("device back online")
            self._status(DeviceState.ONLINE, None)
        elif not self._announced and result.reachable:
            self._status(DeviceState.ONLINE, None)
        self._announced = self._announced or result.reachable or transition is not None
        # an unavailable device's failed probes produce no readings (its status says why)
        if was_available or result.reachable:
            for r in result.readings:
                self.metrics.readings.labels(dev.id, r.quality.value).inc()
            if result.readings:
                site = dev.device.site
                await self._sink(PendingBatch(site, dev.id, tuple(result.readings)))

    def _status(self, state: DeviceState, reason: str | None) -> None:
        self.metrics.available.labels(self.device.id).set(1 if state is DeviceState.ONLINE else 0)
        self._set_status(
            DeviceStatus(
                agent=self.agent,
                site=self.device.device.site,
                device=self.device.id,
                state=state.value,
                ts=self._clock(),
                reason=reason[:1024] if reason else None,
                last_ok=self.last_ok,
            )
        )
