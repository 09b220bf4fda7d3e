"""The agent as a real process polls a firmware-sim BACnet air handler (`driver: bacnet`)
beside a Modbus TCP device: the BACnet values match the simulator's ground truth and go
through the same spool and uplink; when the air handler stops answering its points turn
`error` while the Modbus device keeps being read."""

from __future__ import annotations

import asyncio
import random
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
import yaml

from firmware_sim.bacnet import AirHandler, serve_bacnet
from peakline_core.wire import Quality
from peakline_testing.modbus_peer import modbus_peer
from peakline_testing.servers import Mosquitto
from peakline_testing.waiting import eventually
from tests.integration.edge.edge_harness import (
    AgentProcess,
    Collector,
    meter_unit,
    modbus_device,
    write_config,
)

pytestmark = pytest.mark.timeout(180)
AGENT_PORT = 47811  # the agent's own BACnet port (bacpypes3 treats 127.x on 47808 as itself)

AHU_PROFILE = {
    "protocol": "bacnet",
    "name": "test-ahu",
    "kind": "hvac",
    "points": [
        {"name": "supply_temp", "object_type": "analog-input", "instance": 1, "unit": "degC"},
        {"name": "return_temp", "object_type": "analog-input", "instance": 2, "unit": "degC"},
        {"name": "fan_speed", "object_type": "analog-input", "instance": 3, "unit": "%"},
        {"name": "zone_setpoint", "object_type": "analog-value", "instance": 1, "unit": "degC"},
    ],
}


def _good(collector: Collector, device: str) -> list[dict[str, float]]:
    return [
        {r.point: r.value for r in b.readings if r.quality is Quality.GOOD}
        for b in collector.of(device)
    ]


async def test_bacnet_device_polled_and_isolated_beside_modbus(
    tmp_path: Path, mosquitto: Mosquitto, topic_prefix: str
) -> None:
    net = random.Random().randrange(2, 250)
    host = f"127.{net}.31.2"
    ahu = AirHandler(1001, "ahu-1", supply_temp_c=13.5)
    async with AsyncExitStack() as stack, modbus_peer({1: meter_unit(1500.5, 21.5)}) as peer:
        sim = AsyncExitStack()
        await sim.enter_async_context(serve_bacnet(ahu, host))
        stack.push_async_callback(sim.aclose)
        bacnet = {
            "id": "ahu1",
            "site": "s1",
            "agent": "gw1",
            "profile": "test-ahu",
            "poll_interval_s": 0.5,
            "connection": {
                "driver": "bacnet",
                "address": host,
                "device_instance": 1001,
                "timeout_s": 0.5,
            },
        }
        config = write_config(
            tmp_path / "cfg", mosquitto.url, topic_prefix, [modbus_device("m1", peer.port), bacnet]
        )
        (config / "profiles" / "test-ahu.yaml").write_text(yaml.safe_dump(AHU_PROFILE))
        agents = yaml.safe_load((config / "agents.yaml").read_text())
        agents["agents"][0]["bacnet"] = {"address": f"127.{net}.31.9/8:{AGENT_PORT}"}
        (config / "agents.yaml").write_text(yaml.safe_dump(agents))
        collector = Collector(mosquitto.host, mosquitto.port, topic_prefix)
        task = asyncio.create_task(collector.run())
        await eventually(collector.connected.is_set, 20, "collector connected")
        agent = AgentProcess(config, tmp_path / "state", tmp_path / "agent.log")
        agent.start()
        try:
            await eventually(
                lambda: any(len(g) == 4 for g in _good(collector, "ahu1")),
                60,
                "a full good batch from the air handler",
            )
            full = next(g for g in _good(collector, "ahu1") if len(g) == 4)
            assert full == {
                "supply_temp": pytest.approx(ahu.supply_temp_c),
                "return_temp": pytest.approx(ahu.return_temp_c),
                "fan_speed": pytest.approx(ahu.fan_speed_pct),
                "zone_setpoint": pytest.approx(ahu.present_value("zone_setpoint")),
            }
            units = {r.point: r.unit for b in collector.of("ahu1") for r in b.readings}
            assert units["supply_temp"] == "degC" and units["fan_speed"] == "%"

            await sim.aclose()  # the air handler stops answering
            await eventually(
                lambda: any(
                    r.quality is Quality.ERROR for b in collector.of("ahu1") for r in b.readings
                ),
                30,
                "error readings from the silent air handler",
            )
            seen = len(collector.of("m1"))
            await eventually(lambda: len(collector.of("m1")) >= seen + 4, 30, "m1 still read")
            latest = {r.point: r for r in collector.of("m1")[-1].readings}
            assert latest["power"].quality is Quality.GOOD
            assert latest["power"].value == pytest.approx(1500.5)
            assert await agent.terminate() == 0
        finally:
            agent.stop_quietly()
            task.cancel()
    log = (tmp_path / "agent.log").read_text()
    assert "device unavailable" in log and "ahu1" in log
