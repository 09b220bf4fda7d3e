"""Agent state on the broker (birth, last will after SIGKILL, device status) and the spool's
drop policy when full, seen from outside the process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt
import pytest

from peakline_core.wire import decode_agent_state, decode_device_status
from peakline_testing.modbus_peer import Unit, modbus_peer
from peakline_testing.servers import Mosquitto, free_port
from peakline_testing.waiting import eventually
from tests.integration.edge.edge_harness import AgentProcess, modbus_device, write_config

pytestmark = pytest.mark.timeout(180)


def _unit() -> Unit:
    return Unit(holding={a: 0 for a in range(11)}, counters={0})


async def test_birth_last_will_and_device_status(
    tmp_path: Path, mosquitto: Mosquitto, topic_prefix: str
) -> None:
    silent = _unit()
    silent.silent = True
    states: list[str] = []
    spool_reports: list[int] = []
    statuses: dict[str, str] = {}
    async with (
        modbus_peer({1: _unit(), 2: silent}) as peer,
        aiomqtt.Client(mosquitto.host, mosquitto.port) as watcher,
    ):
        await watcher.subscribe(f"{topic_prefix}/v1/agent/+", qos=1)
        await watcher.subscribe(f"{topic_prefix}/v1/status/+/+", qos=1)

        async def watch() -> None:
            async for m in watcher.messages:
                assert isinstance(m.payload, bytes)
                if "/agent/" in m.topic.value:
                    state = decode_agent_state(m.payload)
                    states.append(state.state)
                    if state.spool_readings is not None:  # the depth, for spool_backlog rules
                        spool_reports.append(state.spool_readings)
                else:
                    s = decode_device_status(m.payload)
                    statuses[s.device] = s.state

        task = asyncio.create_task(watch())
        devices = [
            modbus_device("ok", peer.port, 1),
            modbus_device("gone", peer.port, 2, timeout=0.3, retries=0),
        ]
        config = write_config(tmp_path / "cfg", mosquitto.url, topic_prefix, devices)
        agent = AgentProcess(config, tmp_path / "state", tmp_path / "agent.log")
        agent.start()
        try:
            await eventually(lambda: states[-1:] == ["online"], 30, "birth message")
            await eventually(
                lambda: statuses == {"ok": "online", "gone": "unavailable"}, 60, "device statuses"
            )
            await eventually(lambda: bool(spool_reports), 30, "the spool depth on the agent topic")
            assert states[-1] == "online"
            agent.kill()
            await eventually(lambda: states[-1:] == ["offline"], 60, "last will after SIGKILL")
        finally:
            agent.stop_quietly()
            task.cancel()


async def test_full_spool_drops_oldest_and_counts_them(tmp_path: Path, topic_prefix: str) -> None:
    nowhere = f"mqtt://127.0.0.1:{free_port()}"  # the broker never comes up
    async with modbus_peer({1: _unit()}) as peer:
        devices = [modbus_device("m1", peer.port, 1, interval=0.2)]
        spool = {"max_bytes": 4000, "max_age_s": 3600}
        config = write_config(tmp_path / "cfg", nowhere, topic_prefix, devices, spool=spool)
        agent = AgentProcess(config, tmp_path / "state", tmp_path / "agent.log")
        agent.start()
        health = tmp_path / "state" / "health.json"

        def dropped() -> int:
            if not health.exists():
                return 0
            return int(json.loads(health.read_text())["spool"]["dropped_readings"])

        try:
            await eventually(lambda: dropped() >= 8, 60, "drops counted in the health file")
            assert await agent.terminate() == 0
        finally:
            agent.stop_quietly()
    report = json.loads(health.read_text())["spool"]
    assert report["bytes"] <= 4000
    assert report["dropped_readings"] == 4 * report["dropped_batches"]  # 4 points per batch
    lines = [
        json.loads(x)
        for x in (tmp_path / "agent.log").read_text().splitlines()
        if x.startswith("{")
    ]
    logged = sum(x["readings"] for x in lines if x["event"].startswith("spool over its bound"))
    assert logged == report["dropped_readings"]
