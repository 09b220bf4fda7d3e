"""COV on the real agent path: the agent (a subprocess, `driver: bacnet` with
`cov_lifetime_s`) subscribes to a firmware-sim air handler's points over UDP, renews the
subscriptions before their lifetime ends, and a value the simulator changes reaches mosquitto
as a notified reading long before the next poll (the poll interval is an hour). The air
handler then stops answering and comes back: the agent subscribes again and notifications
flow again."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml

from firmware_sim.bacnet import AirHandler, serve_bacnet
from peakline_core.wire import Quality
from peakline_testing.servers import Mosquitto
from peakline_testing.waiting import eventually
from tests.integration.edge.edge_harness import AgentProcess, Collector, write_config
from tests.integration.edge.test_edge_bacnet_driver import AHU_PROFILE

pytestmark = pytest.mark.timeout(180)
AGENT_PORT = 47815  # the agent's own BACnet port (bacpypes3 treats 127.x on 47808 as itself)
LIFETIME_S = 3


async def _serve(stack: AsyncExitStack, ahu: AirHandler, host: str, seen: Counter[Any]) -> None:
    """Serve `ahu`, counting the SubscribeCOV requests it answers per object."""
    app = await stack.enter_async_context(serve_bacnet(ahu, host))
    answer = app.do_SubscribeCOVRequest

    async def counted(apdu: Any) -> Any:
        kind, number = apdu.monitoredObjectIdentifier
        seen[(str(kind), int(number))] += 1
        return await answer(apdu)

    app.do_SubscribeCOVRequest = counted


def _notified(collector: Collector, value: float) -> list[Any]:
    """Batches of one reading (a notification; a poll sends every point) with `value`."""
    return [
        b
        for b in collector.of("ahu1")
        if len(b.readings) == 1
        and b.readings[0].point == "supply_temp"
        and b.readings[0].quality is Quality.GOOD
        and b.readings[0].value == pytest.approx(value)
    ]


async def test_cov_notifications_renewed_and_resubscribed(
    tmp_path: Path, mosquitto: Mosquitto, topic_prefix: str
) -> None:
    net = random.Random().randrange(2, 250)
    host = f"127.{net}.35.2"
    ahu = AirHandler(1001, "ahu-1")
    supply = ("analog-input", 1)
    seen: Counter[Any] = Counter()
    device = {
        "id": "ahu1", "site": "s1", "agent": "gw1", "profile": "test-ahu",
        "poll_interval_s": 3600,
        "connection": {"driver": "bacnet", "address": host, "device_instance": 1001,
                       "timeout_s": 0.5, "cov_lifetime_s": LIFETIME_S},
    }  # fmt: skip
    config = write_config(tmp_path / "cfg", mosquitto.url, topic_prefix, [device])
    (config / "profiles" / "test-ahu.yaml").write_text(yaml.safe_dump(AHU_PROFILE))
    agents = yaml.safe_load((config / "agents.yaml").read_text())
    agents["agents"][0]["bacnet"] = {"address": f"127.{net}.35.9/8:{AGENT_PORT}"}
    (config / "agents.yaml").write_text(yaml.safe_dump(agents))
    collector = Collector(mosquitto.host, mosquitto.port, topic_prefix)
    listener = asyncio.create_task(collector.run())
    agent = AgentProcess(config, tmp_path / "state", tmp_path / "agent.log")
    try:
        await eventually(collector.connected.is_set, 20, "collector connected")
        async with AsyncExitStack() as sim:
            await _serve(sim, ahu, host, seen)
            agent.start()
            # subscribed, then renewed before the 3 s lifetime ran out
            await eventually(lambda: seen[supply] >= 2, 60, "a renewed SubscribeCOV")
            ahu.set_value("supply_temp", 15.75)
            await eventually(lambda: bool(_notified(collector, 15.75)), 30, "notified 15.75")
            units = {r.unit for b in _notified(collector, 15.75) for r in b.readings}
            assert units == {"degC"}
        # the air handler stops answering, then comes back: the agent subscribes again
        before = seen[supply]
        async with AsyncExitStack() as sim:
            await _serve(sim, ahu, host, seen)
            await eventually(lambda: seen[supply] > before, 60, "a new SubscribeCOV")
            ahu.set_value("supply_temp", 12.5)
            await eventually(lambda: bool(_notified(collector, 12.5)), 30, "notified 12.5")
            assert await agent.terminate() == 0
    finally:
        agent.stop_quietly()
        listener.cancel()
