"""The edge's COV watcher in-process against a firmware-sim air handler over UDP: a point the
device cannot subscribe (no such object) is refused and left to polling while the others are
subscribed; notified readings carry the profile's unit and `good`; when the device stops
answering its renewals the subscriptions are dropped (polling is the floor)."""

from __future__ import annotations

import asyncio
import random
from contextlib import AsyncExitStack

import pytest

from firmware_sim.bacnet import AirHandler, serve_bacnet
from peakline_core.config import BacnetProfile, Device
from peakline_core.wire import Quality
from peakline_edge.bacnet import BacnetClient
from peakline_edge.bacnet.cov import CovWatcher
from peakline_edge.bacnet.device import BacnetDevice
from peakline_edge.metrics import EdgeMetrics
from peakline_edge.spool import PendingBatch
from peakline_testing.waiting import eventually

pytestmark = pytest.mark.timeout(60)
CLIENT_PORT = 47816

PROFILE = BacnetProfile.model_validate(
    {
        "protocol": "bacnet", "name": "ahu", "kind": "hvac",
        "points": [
            {"name": "supply_temp", "object_type": "analog-input", "instance": 1, "unit": "degC"},
            {"name": "ghost", "object_type": "analog-input", "instance": 99, "unit": "degC"},
        ],
    }
)  # fmt: skip


async def test_refused_point_left_to_polling_and_silence_drops_subscriptions() -> None:
    net = random.Random().randrange(2, 250)
    host = f"127.{net}.36.2"
    ahu = AirHandler(1001, "ahu-1")
    config = Device.model_validate(
        {"id": "ahu1", "site": "s1", "agent": "gw", "profile": "ahu",
         "connection": {"driver": "bacnet", "address": host, "device_instance": 1001}}
    )  # fmt: skip
    batches: list[PendingBatch] = []

    async def sink(batch: PendingBatch) -> None:
        batches.append(batch)

    async with AsyncExitStack() as stack:
        sim = AsyncExitStack()
        await sim.enter_async_context(serve_bacnet(ahu, host))
        client = await stack.enter_async_context(
            BacnetClient(f"127.{net}.36.9/8:{CLIENT_PORT}", timeout_s=0.5)
        )
        watcher = CovWatcher(BacnetDevice(config, PROFILE, client), sink, EdgeMetrics(), 2)
        task = asyncio.create_task(watcher.run())
        try:
            await eventually(lambda: watcher.refused == {"ghost"}, 20, "ghost refused")
            await eventually(lambda: watcher.subscribed == {"supply_temp"}, 20, "subscribed")
            ahu.set_value("supply_temp", 16.25)

            def notified() -> bool:
                return any(r.value == 16.25 for b in batches for r in b.readings)

            await eventually(notified, 20, "the notified 16.25")
            reading = next(r for b in batches for r in b.readings if r.value == 16.25)
            assert reading.quality is Quality.GOOD and reading.unit == "degC"
            await sim.aclose()  # the device stops answering: the renewal fails
            await eventually(lambda: not watcher.subscribed, 30, "the subscription dropped")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
