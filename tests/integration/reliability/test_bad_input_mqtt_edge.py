"""Bad input, MQTT sensor -> edge agent: the hostile sensor corpus (tests/cases/hostile/sensor)
published on one MQTT-sourced device's topic of a real `peakline-edge` process.

The agent keeps running, counts each rejection under its reason
(`peakline_edge_errors{device, kind}`), publishes exactly the readings the accepted cases
carry (wrongly typed fields as `error` readings without a value), and its neighbour sensor
keeps flowing.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path

import aiomqtt
import httpx
import pytest
import yaml

from peakline_core.wire import Quality
from peakline_testing.servers import Mosquitto, free_port
from peakline_testing.waiting import eventually
from tests.integration.edge.edge_harness import Collector, write_config
from tests.integration.reliability.bad_input_support import start_agent
from tests.integration.reliability.hostile_corpus import load_sensor_cases

pytestmark = pytest.mark.timeout(180)
AIR = {
    "protocol": "mqtt",
    "name": "air",
    "kind": "air_quality",
    "timestamp_field": "time",
    "fields": [
        {"name": "co2", "field": "co2", "unit": "ppm"},
        {"name": "temp", "field": "env.t", "unit": "C"},
        {"name": "occupied", "field": "occupancy", "dtype": "bool"},
        {"name": "fw", "field": "fw", "dtype": "string"},
    ],
}
MARK = 4242.0  # co2 of the last message: once it is published, every case before it was handled


def _sensor(name: str, topic: str) -> dict[str, object]:
    connection = {"driver": "mqtt", "topic": topic}
    return {"id": name, "site": "s1", "agent": "gw1", "profile": "air", "connection": connection}


def _values(collector: Collector, device: str) -> list[object]:
    return [r.value for b in collector.of(device) for r in b.readings]


def _errors(port: int, device: str) -> Counter[str]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    pattern = rf'^peakline_edge_errors_total\{{device="{device}",kind="([^"]+)"\}} ([0-9.e+]+)$'
    return Counter({m[1]: int(float(m[2])) for m in re.finditer(pattern, text, re.M)})


def _number(v: object) -> object:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v


async def test_hostile_sensor_payloads_are_counted_and_never_published_wrong(
    tmp_path: Path, mosquitto: Mosquitto, topic_prefix: str
) -> None:
    cases = load_sensor_cases()
    hostile, neighbour = f"{topic_prefix}-s/air1", f"{topic_prefix}-s/air2"
    config = write_config(
        tmp_path / "cfg",
        mosquitto.url,
        topic_prefix,
        [_sensor("air1", hostile), _sensor("air2", neighbour)],
    )
    (config / "profiles" / "air.yaml").write_text(yaml.safe_dump(AIR))
    collector = Collector(mosquitto.host, mosquitto.port, topic_prefix)
    task = asyncio.create_task(collector.run())
    port = free_port()
    await eventually(collector.connected.is_set, 20, "collector connected")
    agent = start_agent(config, tmp_path, port)
    try:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as sensor:
            # the agent subscribes after connecting: publish until the neighbour's batch arrives
            for _ in range(200):
                await sensor.publish(neighbour, b'{"co2": 400}', qos=1)
                if collector.of("air2"):
                    break
                await asyncio.sleep(0.1)  # publish cadence of the fake sensor
            await eventually(lambda: bool(collector.of("air2")), 20, "neighbour batch")
            for case in cases:
                await sensor.publish(hostile, case.payload, qos=1)
            await sensor.publish(hostile, f'{{"co2": {MARK}}}'.encode(), qos=1)
            await sensor.publish(neighbour, b'{"co2": 401}', qos=1)
        await eventually(lambda: MARK in _values(collector, "air1"), 30, "the marker reading")
        await eventually(lambda: 401.0 in _values(collector, "air2"), 30, "the neighbour's reading")
        assert agent.proc is not None and agent.proc.poll() is None, agent.log.read_text()
        errors = _errors(port, "air1")
        assert await agent.terminate() == 0
    finally:
        agent.stop_quietly()
        task.cancel()
    want = Counter(c.reason for c in cases if c.reason)
    want["field_type"] = sum(v is None for c in cases for v in c.expect.values())
    assert errors == want
    published = [(r.point, r.quality, r.value) for b in collector.of("air1") for r in b.readings]
    expected = [
        (point, Quality.ERROR if v is None else Quality.GOOD, v if v is None else _number(v))
        for c in cases
        for point, v in c.expect.items()
    ]
    assert sorted(published, key=repr) == sorted([*expected, ("co2", Quality.GOOD, MARK)], key=repr)
