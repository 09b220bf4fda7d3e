"""The agent as a process reading two RTU units on one serial line (a socat pseudo-terminal
pair) and an MQTT sensor on the broker, publishing to a real mosquitto."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml

from peakline_core.config.profiles import ModbusProfile
from peakline_core.registers import encode_value
from peakline_core.wire import Quality
from peakline_testing.modbus_peer import Unit, rtu_peer
from peakline_testing.servers import Mosquitto, SerialPair
from peakline_testing.waiting import eventually
from tests.integration.edge.edge_harness import PROFILE, AgentProcess, Collector, write_config

pytestmark = pytest.mark.timeout(180)
POINTS = ModbusProfile.model_validate(PROFILE)
AIR = {
    "protocol": "mqtt",
    "name": "air",
    "kind": "air_quality",
    "fields": [
        {"name": "co2", "field": "co2", "unit": "ppm"},
        {"name": "temp", "field": "env.t", "unit": "C"},
    ],
}


def _unit(power: float) -> Unit:
    unit = Unit(counters={0})
    for p in POINTS.points:
        value = {"count": 0, "power": power, "temp": 19.5, "status": 1}[p.name]
        for i, w in enumerate(encode_value(p, value)):
            unit.holding[p.address + i] = w
    for a in range(5, 10):
        unit.holding[a] = 0
    return unit


def _rtu(name: str, port: str, unit_id: int) -> dict[str, Any]:
    return {
        "id": name,
        "site": "s1",
        "agent": "gw1",
        "profile": "test-meter",
        "poll_interval_s": 0.5,
        "connection": {
            "driver": "modbus-rtu",
            "port": port,
            "baudrate": 19200,
            "unit_id": unit_id,
            "timeout_s": 0.5,
            "retries": 1,
        },
    }


async def test_rtu_units_share_a_line_and_mqtt_sensor_is_mapped(
    tmp_path: Path, mosquitto: Mosquitto, serial_pair: SerialPair, topic_prefix: str
) -> None:
    sensor_topic = f"{topic_prefix}-sensors/air1"
    devices = [
        _rtu("r1", serial_pair.a, 1),
        _rtu("r2", serial_pair.a, 2),
        {
            "id": "air1",
            "site": "s1",
            "agent": "gw1",
            "profile": "air",
            "connection": {"driver": "mqtt", "topic": sensor_topic},
        },
    ]
    config = write_config(tmp_path / "cfg", mosquitto.url, topic_prefix, devices)
    (config / "profiles" / "air.yaml").write_text(yaml.safe_dump(AIR))
    collector = Collector(mosquitto.host, mosquitto.port, topic_prefix)
    task = asyncio.create_task(collector.run())
    async with rtu_peer(serial_pair.b, {1: _unit(100.25), 2: _unit(-7.5)}) as peer:
        await eventually(collector.connected.is_set, 20, "collector connected")
        agent = AgentProcess(config, tmp_path / "state", tmp_path / "agent.log")
        agent.start()
        try:
            await eventually(
                lambda: len(collector.of("r1")) >= 3 and len(collector.of("r2")) >= 3,
                60,
                "RTU batches from both units",
            )
            async with aiomqtt.Client(mosquitto.host, mosquitto.port) as sensor:
                # the agent subscribes after connecting: publish until a batch arrives
                for _ in range(100):
                    await sensor.publish(sensor_topic, b'{"co2": 655, "env": {"t": 22.5}}', qos=1)
                    if collector.of("air1"):
                        break
                    await asyncio.sleep(0.1)  # publish cadence of the fake sensor
            await eventually(lambda: bool(collector.of("air1")), 20, "sensor batch")
            assert await agent.terminate() == 0
        finally:
            agent.stop_quietly()
            task.cancel()
    for device, power in (("r1", 100.25), ("r2", -7.5)):
        readings = [r for b in collector.of(device) for r in b.readings]
        assert {r.quality for r in readings} == {Quality.GOOD}
        assert {r.value for r in readings if r.point == "power"} == {power}
    assert {unit for unit, *_ in peer.requests} == {1, 2}
    air = {r.point: r.value for b in collector.of("air1") for r in b.readings}
    assert air == {"co2": 655.0, "temp": 22.5}
