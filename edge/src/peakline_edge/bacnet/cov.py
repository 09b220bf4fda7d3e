"""COV subscriptions of one BACnet device: each point's present-value arrives by notification
as soon as the device sees it change (by more than its COV increment), instead of at the next
poll.

One SubscribeCOV per point with the device's `cov_lifetime_s`, renewed by bacpypes3 before
the lifetime ends (confirmed notifications). A point whose subscription the device refuses
(an error, reject or abort: COV not supported on that object) is left to polling, logged
once. When notifications stop because the device stopped answering the renewals, the
subscription is dropped and taken again with back-off. Polling on `poll_interval_s` never
stops: it is the floor under COV, so the installer lengthens the interval instead.

Notified values become readings of the same kind as polled ones (decoded by object type,
`good`, `stale` for a non-finite value, the profile's unit) and go to the same spool writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from bacpypes3.apdu import AbortPDU, ErrorRejectAbortNack, RejectPDU
from bacpypes3.pdu import Address
from bacpypes3.primitivedata import ObjectIdentifier

from peakline_core.config.profiles import BacnetPoint
from peakline_core.wire import Quality, Reading
from peakline_edge.bacnet.device import BacnetDevice
from peakline_edge.bacnet.values import decode_present_value
from peakline_edge.metrics import EdgeMetrics
from peakline_edge.spool import PendingBatch

Sink = Callable[[PendingBatch], Awaitable[None]]
_REFUSED = (ErrorRejectAbortNack, RejectPDU, AbortPDU)


class CovWatcher:
    """The COV subscriptions of one `BacnetDevice`. `await watcher.run()` until cancelled."""

    def __init__(
        self,
        device: BacnetDevice,
        sink: Sink,
        metrics: EdgeMetrics,
        lifetime_s: int,
        *,
        subscribing: asyncio.Semaphore | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        """`subscribing` bounds the SubscribeCOV requests in flight (share one across the
        agent's devices: 2,000 at once swamp the port and time its polls out)."""
        self.device = device
        self.sink = sink
        self.metrics = metrics
        self.lifetime_s = lifetime_s
        self.subscribed: set[str] = set()  # points with a live subscription
        self.refused: set[str] = set()  # points left to polling
        self.notifications = 0
        self._subscribing = subscribing or asyncio.Semaphore(4)
        self._clock = clock_ns
        self._rng = random.Random()
        self._log = structlog.get_logger("peakline.edge.cov").bind(device=device.id)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for point in self.device.profile.points:
                group.create_task(self._watch(point), name=f"cov-{self.device.id}-{point.name}")

    async def _watch(self, point: BacnetPoint) -> None:
        delay = 1.0
        while True:
            try:
                await self._subscription(point)
            except _REFUSED as exc:
                if not _no_response(exc):
                    self.refused.add(point.name)
                    self._log.info(
                        "COV refused; point polled only", point=point.name, error=str(exc)
                    )
                    return
                self._log.debug("COV subscription lost", point=point.name, error="no answer")
            except (TimeoutError, OSError, ValueError) as exc:
                self._log.debug("COV subscription lost", point=point.name, error=repr(exc))
            finally:
                self.subscribed.discard(point.name)
            await asyncio.sleep(delay * (0.5 + self._rng.random()))  # back-off between retries
            delay = min(delay * 2, float(self.lifetime_s))

    async def _subscription(self, point: BacnetPoint) -> None:
        client = self.device.client
        oid = ObjectIdentifier(f"{point.object_type},{point.instance}")
        scm = client.app.change_of_value(
            Address(self.device.connection.address),
            oid,
            issue_confirmed_notifications=True,
            lifetime=self.lifetime_s,
        )
        async with self._subscribing:  # renewals (by bacpypes3) are spread by their start times
            # bacpypes3 waits for the device's answer without a deadline of its own
            await asyncio.wait_for(scm.__aenter__(), client.timeout_s * 4)
        try:
            self.subscribed.add(point.name)
            while True:
                try:
                    prop, value = await asyncio.wait_for(scm.get_value(), self.lifetime_s)
                except TimeoutError:
                    if _renewal_failed(scm):
                        raise
                    continue  # quiet, not lost: the value did not move
                if str(prop) == "present-value":
                    await self._reading(point, value)
        finally:
            with contextlib.suppress(Exception):  # leaving: the device may be gone already
                await asyncio.wait_for(scm.__aexit__(None, None, None), client.timeout_s)

    async def _reading(self, point: BacnetPoint, value: Any) -> None:
        try:
            number = decode_present_value(point.object_type, value)
        except (TypeError, ValueError):
            reading = Reading(point.name, self._clock(), None, Quality.ERROR, point.unit or None)
        else:
            quality = Quality.GOOD if math.isfinite(number) else Quality.STALE
            shown = number if quality is Quality.GOOD else None
            reading = Reading(point.name, self._clock(), shown, quality, point.unit or None)
        self.notifications += 1
        self.metrics.readings.labels(self.device.id, reading.quality.value).inc()
        await self.sink(PendingBatch(self.device.device.site, self.device.id, (reading,)))


def _no_response(exc: BaseException) -> bool:
    """An abort bacpypes3 made itself because the device never answered."""
    return isinstance(exc, AbortPDU) and str(getattr(exc, "apduAbortRejectReason", "")) in (
        "no-response",
        "noResponse",
    )


def _renewal_failed(scm: Any) -> bool:
    """True when bacpypes3's renewal of the subscription ended in an error (no answer)."""
    task = scm.refresh_subscription_task
    return task is not None and task.done() and task.exception() is not None
