"""Binary and multi-state objects of a firmware-sim BACnet air handler over real UDP on
loopback, through the edge's own stack: discovery lists them with their types and state texts
(kept in the generated profile, which still allows no writes), the edge's poll reads them as
the simulator holds them (binary a bool, as a Modbus coil; multi-state the state number), and
writes land in slot 8 in the object's own datatype and are relinquished; a value the type
cannot hold, or a point out of service, is refused with nothing written; COV notifications of
both are decoded the same way."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
import yaml

from firmware_sim.bacnet import AirHandler, serve_bacnet
from firmware_sim.bacnet.device import OCCUPANCY_STATES
from peakline_core.config import BacnetProfile, Device
from peakline_core.wire import Quality
from peakline_edge.bacnet import BacnetClient
from peakline_edge.bacnet.cov import CovWatcher
from peakline_edge.bacnet.device import BacnetDevice
from peakline_edge.bacnet.profile import profile_from_discovery, profile_yaml
from peakline_edge.errors import ExceptionReply, WriteRefused
from peakline_edge.metrics import EdgeMetrics
from peakline_edge.spool import PendingBatch
from peakline_testing.waiting import eventually

pytestmark = pytest.mark.timeout(60)
CLIENT_PORT = 47814  # bacpypes3 treats 127.x on its own port as itself (see firmware_sim.bacnet)


@pytest.fixture
async def rig() -> AsyncIterator[tuple[BacnetClient, str, AirHandler]]:
    net = random.Random().randrange(2, 250)
    host = f"127.{net}.34.2"
    ahu = AirHandler(1001, "ahu-1", enumerated_points=True, filter_alarm=True)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serve_bacnet(ahu, host))
        client = await stack.enter_async_context(
            BacnetClient(f"127.{net}.34.9/8:{CLIENT_PORT}", timeout_s=1.0)
        )
        yield client, host, ahu


async def test_discovery_lists_binary_and_multi_state_objects(rig) -> None:  # type: ignore[no-untyped-def]
    client, host, _ = rig
    found = await client.discover(host)
    by_name = {p.name: p for p in found.points}
    assert {n: (p.object_type, p.instance) for n, p in by_name.items() if p.unit == ""} == {
        "fan_enable": ("binary-value", 1),
        "filter_alarm": ("binary-input", 1),
        "occupancy_mode": ("multi-state-value", 1),
    }
    assert by_name["occupancy_mode"].states == OCCUPANCY_STATES
    assert by_name["fan_enable"].states == ("off", "on")  # inactive-text, active-text
    assert by_name["fan_enable"].commandable and by_name["occupancy_mode"].commandable
    assert not by_name["filter_alarm"].commandable

    text = profile_yaml(profile_from_discovery(found, "ahu", "hvac"), found)
    profile = BacnetProfile.model_validate(yaml.safe_load(text))
    assert profile.point("occupancy_mode").states == list(OCCUPANCY_STATES)
    assert all(p.writable is None for p in profile.points)  # the installer adds limits
    assert "#   commandable: occupancy_mode writable: {min: 1, max: 3, step: 1}" in text
    assert "#   commandable: fan_enable writable: {min: 0, max: 1}" in text
    assert "filter_alarm writable" not in text


def _device(host: str, profile: BacnetProfile, client: BacnetClient) -> BacnetDevice:
    config = Device.model_validate(
        {"id": "ahu1", "site": "s1", "agent": "gw", "profile": profile.name,
         "connection": {"driver": "bacnet", "address": host, "device_instance": 1001}}
    )  # fmt: skip
    return BacnetDevice(config, profile, client)


async def test_the_edge_polls_them_as_the_simulator_holds_them(rig) -> None:  # type: ignore[no-untyped-def]
    client, host, ahu = rig
    profile = profile_from_discovery(await client.discover(host), "ahu", "hvac")
    device = _device(host, profile, client)
    ahu.set_value("occupancy_mode", 3)  # slot 16: a lower-priority writer (the schedule)
    ahu.set_value("fan_enable", "inactive")
    result = await device.poll(profile.points)
    readings = {r.point: r for r in result.readings}
    assert all(r.quality is Quality.GOOD for r in readings.values()), readings
    got = {n: readings[n].value for n in ("fan_enable", "filter_alarm", "occupancy_mode")}
    assert got == {"fan_enable": False, "filter_alarm": True, "occupancy_mode": 3}
    assert [type(v) for v in got.values()] == [bool, bool, int]
    assert got["occupancy_mode"] == ahu.present_value("occupancy_mode")
    assert readings["supply_temp"].value == pytest.approx(ahu.supply_temp_c)


async def test_writes_land_in_slot_8_in_their_datatype_and_are_relinquished(rig) -> None:  # type: ignore[no-untyped-def]
    client, host, ahu = rig
    assert await client.write(host, "binary-value", 1, False) is False
    assert ahu.priority_slot("fan_enable", 8) == 0.0  # inactive held at 8, not an empty slot
    assert await client.priority_slot(host, "binary-value", 1) == 0.0
    assert await client.write(host, "multi-state-value", 1, 2) == 2
    assert ahu.priority_slot("occupancy_mode", 8) == 2.0
    assert ahu.present_value("occupancy_mode") == 2.0

    assert await client.relinquish(host, "binary-value", 1) is True  # the schedule: on
    assert await client.relinquish(host, "multi-state-value", 1) == 1  # occupied
    assert ahu.priority_slot("fan_enable", 8) is None
    assert ahu.priority_slot("occupancy_mode", 8) is None
    assert await client.priority_slot(host, "multi-state-value", 1) is None


async def test_values_the_type_cannot_hold_and_out_of_service_are_refused(rig) -> None:  # type: ignore[no-untyped-def]
    client, host, ahu = rig
    for kind, value in (("binary-value", 2), ("multi-state-value", 1.5), ("multi-state-value", 0)):
        with pytest.raises(WriteRefused):
            await client.write(host, kind, 1, value)
    with pytest.raises(ExceptionReply):  # past the edge's checks: the device refuses state 4
        await client.write(host, "multi-state-value", 1, 4)
    ahu.set_out_of_service("occupancy_mode")
    with pytest.raises(WriteRefused):
        await client.write(host, "multi-state-value", 1, 2)
    assert ahu.priority_slot("fan_enable", 8) is None
    assert ahu.priority_slot("occupancy_mode", 8) is None


async def test_cov_notifies_binary_and_multi_state_changes_decoded(rig) -> None:  # type: ignore[no-untyped-def]
    client, host, ahu = rig
    profile = BacnetProfile.model_validate(
        {"protocol": "bacnet", "name": "ahu", "kind": "hvac", "points": [
            {"name": "filter_alarm", "object_type": "binary-input", "instance": 1},
            {"name": "occupancy_mode", "object_type": "multi-state-value", "instance": 1},
        ]}
    )  # fmt: skip
    batches: list[PendingBatch] = []

    async def sink(batch: PendingBatch) -> None:
        batches.append(batch)

    watcher = CovWatcher(_device(host, profile, client), sink, EdgeMetrics(), 30)
    task = asyncio.create_task(watcher.run())
    try:
        await eventually(lambda: len(watcher.subscribed) == 2, 20, "both subscribed")
        ahu.set_value("filter_alarm", "inactive")
        ahu.set_value("occupancy_mode", 3)

        def seen() -> dict[str, object]:
            return {r.point: r.value for b in batches for r in b.readings}  # the last of each

        await eventually(
            lambda: seen() == {"filter_alarm": False, "occupancy_mode": 3}, 20, "notifications"
        )
        assert {p: type(v) for p, v in seen().items()} == {
            "filter_alarm": bool,
            "occupancy_mode": int,
        }
        assert all(r.quality is Quality.GOOD for b in batches for r in b.readings)
        assert not watcher.refused
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
