"""firmware-sim's BACnet chiller plant controller over real UDP on loopback, driven through the
edge's own stack (BacnetClient, BacnetDevice, the CommandExecutor): its readings match the
simulator's ground truth, a raised chilled-water setpoint at priority 8 cuts the plant's power
at the next physics step and its relinquish brings the schedule's setpoint back; a chiller
enable (a binary value) commanded off at priority 8 stops the plant until relinquished; faults: a
point out of service is refused, a plant that stops answering times out and is reported
unreachable."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from firmware_sim.bacnet import ChillerPlant, serve_bacnet
from peakline_core.config import Agent, BacnetProfile, Device
from peakline_core.wire import Command, CommandState, Quality, Topics, encode
from peakline_edge.bacnet import BacnetClient
from peakline_edge.bacnet.device import BacnetDevice
from peakline_edge.control import CommandExecutor, HoldStore, Target

pytestmark = pytest.mark.timeout(60)
CLIENT_PORT = 47813  # bacpypes3 treats 127.x on its own port as itself (see firmware_sim.bacnet)


def _ai(name: str, instance: int, unit: str) -> dict[str, object]:
    return {"name": name, "object_type": "analog-input", "instance": instance, "unit": unit}


PROFILE = BacnetProfile.model_validate(
    {
        "protocol": "bacnet", "name": "chiller", "kind": "chiller_plant",
        "points": [
            _ai("chw_supply_temp", 1, "degC"),
            _ai("chw_return_temp", 2, "degC"),
            _ai("cooling_load", 3, "kW"),
            _ai("chiller_power", 4, "kW"),
            {"name": "chw_setpoint", "object_type": "analog-value", "instance": 1, "unit": "degC",
             "writable": {"min": 5, "max": 12, "step": 0.5}},
            {"name": "chiller_enable", "object_type": "binary-value", "instance": 1,
             "writable": {"min": 0, "max": 1}},
        ],
    }
)  # fmt: skip


@dataclass
class Rig:
    plant: ChillerPlant
    device: BacnetDevice
    executor: CommandExecutor
    sim: AsyncExitStack


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    net = random.Random().randrange(2, 250)
    host = f"127.{net}.33.2"
    plant = ChillerPlant(2001, "chiller-1")
    config = Device.model_validate(
        {"id": "ch1", "site": "s1", "agent": "gw", "profile": "chiller",
         "connection": {"driver": "bacnet", "address": host, "device_instance": 2001}}
    )  # fmt: skip
    async with AsyncExitStack() as stack:
        sim = AsyncExitStack()
        await sim.enter_async_context(serve_bacnet(plant, host))
        stack.push_async_callback(sim.aclose)
        client = await stack.enter_async_context(
            BacnetClient(f"127.{net}.33.9/8:{CLIENT_PORT}", timeout_s=0.5)
        )
        device = BacnetDevice(config, PROFILE, client)

        async def publish(topic: str, payload: bytes) -> None:
            pass

        holds = stack.enter_context(HoldStore(tmp_path / "control.db"))
        executor = CommandExecutor(
            Agent(id="gw"), {"ch1": Target(config, PROFILE, device)}, publish, Topics("t"), holds
        )
        yield Rig(plant, device, executor, sim)


def command(cid: str, value: float | bool, point: str = "chw_setpoint") -> bytes:
    now = time.time_ns()
    return encode(
        Command(id=cid, site="s1", device="ch1", point=point, value=value,
                issued_at=now, expires_at=now + 30_000_000_000, issuer="op")
    )  # fmt: skip


async def test_readings_match_the_plants_ground_truth(rig: Rig) -> None:
    for _ in range(30):
        rig.plant.step(60.0)
    result = await rig.device.poll(PROFILE.points)
    values = {r.point: r.value for r in result.readings if r.quality is Quality.GOOD}
    assert values == {
        name: pytest.approx(rig.plant.present_value(name), rel=1e-6)
        for name in ("chw_supply_temp", "chw_return_temp", "cooling_load", "chiller_power")
    } | {"chw_setpoint": 7.0, "chiller_enable": True}
    assert values["chiller_power"] > rig.plant.pump_kw  # the plant is cooling


async def test_raised_setpoint_cuts_power_and_its_relinquish_restores_the_schedule(
    rig: Rig,
) -> None:
    for _ in range(600):  # settle: 10 h of 60 s steps
        rig.plant.step(60.0)
    settled_kw = rig.plant.present_value("chiller_power")
    ack = await rig.executor.execute(command("c1", 9.0))
    assert ack is not None and ack.state is CommandState.APPLIED and ack.readback == 9.0
    assert rig.plant.priority_slot("chw_setpoint", 8) == 9.0
    rig.plant.step(60.0)
    assert rig.plant.present_value("chiller_power") < settled_kw - 50
    assert await rig.device.revert_point("chw_setpoint", 7.0) == pytest.approx(7.0)
    assert rig.plant.priority_slot("chw_setpoint", 8) is None


async def test_chiller_enable_off_at_priority_8_stops_the_plant_until_relinquished(
    rig: Rig,
) -> None:
    for _ in range(60):
        rig.plant.step(60.0)
    assert rig.plant.present_value("chiller_power") > rig.plant.pump_kw
    ack = await rig.executor.execute(command("e1", False, "chiller_enable"))
    assert ack is not None and ack.state is CommandState.APPLIED, ack
    assert ack.readback is False and ack.previous is True
    assert rig.plant.priority_slot("chiller_enable", 8) == 0.0  # inactive held at 8
    rig.plant.step(60.0)
    assert rig.plant.present_value("chiller_power") == 0.0
    assert await rig.device.revert_point("chiller_enable", True) is True  # the schedule's
    assert rig.plant.priority_slot("chiller_enable", 8) is None
    rig.plant.step(60.0)
    assert rig.plant.present_value("chiller_power") > rig.plant.pump_kw


async def test_out_of_service_setpoint_is_refused(rig: Rig) -> None:
    rig.plant.set_out_of_service("chw_setpoint")
    ack = await rig.executor.execute(command("c2", 8.0))
    assert ack is not None and ack.state is CommandState.REJECTED
    assert (ack.reason or "").startswith("out_of_service: ch1.chw_setpoint")
    assert rig.plant.priority_slot("chw_setpoint", 8) is None


async def test_a_plant_that_stops_answering_is_unreachable(rig: Rig) -> None:
    assert (await rig.device.poll(PROFILE.points)).reachable
    await rig.sim.aclose()  # the plant falls silent
    result = await rig.device.poll(PROFILE.points)
    assert not result.reachable
    assert {r.quality for r in result.readings} == {Quality.ERROR}
