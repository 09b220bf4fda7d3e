"""BACnet commands through the real edge agent path: a raw MQTT client publishes commands on
mosquitto, the agent (a subprocess, `driver: bacnet`) validates, writes present-value at
priority 8 on a firmware-sim BACnet air handler over UDP, reads back and acknowledges; the
revert-after hold ends with a relinquish (slot 8 empty, the relinquish default back), a point
the device reports out of service is refused, and a value outside the profile is refused by
the edge itself. The same for a binary value (fan enable, written as BinaryPV) and a
multi-state value (occupancy mode, written as Unsigned; a state beyond its 3 refused)."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import aiomqtt
import pytest

from firmware_sim.bacnet import AirHandler, serve_bacnet
from peakline_core.wire import (
    Command,
    CommandAck,
    CommandState,
    decode_ack,
    decode_telemetry,
    encode,
)
from peakline_testing.configs import agent, site, write_config_dir
from peakline_testing.servers import Mosquitto
from peakline_testing.waiting import eventually
from tests.integration.edge.edge_harness import AgentProcess

pytestmark = pytest.mark.timeout(180)
AGENT_PORT = 47812  # the agent's own BACnet port (bacpypes3 treats 127.x on 47808 as itself)

AHU_PROFILE = {
    "protocol": "bacnet",
    "name": "test-ahu",
    "kind": "hvac",
    "points": [
        {"name": "supply_temp", "object_type": "analog-input", "instance": 1, "unit": "degC"},
        {"name": "zone_setpoint", "object_type": "analog-value", "instance": 1, "unit": "degC",
         "writable": {"min": 16, "max": 28, "step": 0.5}},
    ],
}  # fmt: skip
ENUMERATED_PROFILE = {
    **AHU_PROFILE,
    "points": [
        *AHU_PROFILE["points"],  # type: ignore[misc]
        {"name": "fan_enable", "object_type": "binary-value", "instance": 1,
         "writable": {"min": 0, "max": 1}},
        {"name": "filter_alarm", "object_type": "binary-input", "instance": 1},
        {"name": "occupancy_mode", "object_type": "multi-state-value", "instance": 1,
         "states": ["occupied", "unoccupied", "standby"],
         "writable": {"min": 1, "max": 3, "step": 1}},
    ],
}  # fmt: skip


def _config(
    root: Path, mosquitto: Mosquitto, prefix: str, net: int, profile: object = AHU_PROFILE
) -> Path:
    device = {
        "id": "ahu1", "site": "s1", "agent": "gw1", "profile": "test-ahu",
        "poll_interval_s": 0.5,
        "connection": {"driver": "bacnet", "address": f"127.{net}.32.2",
                       "device_instance": 1001, "timeout_s": 0.5},
    }  # fmt: skip
    gw = agent(
        mosquitto.url, prefix, site="s1", bacnet={"address": f"127.{net}.32.9/8:{AGENT_PORT}"}
    )
    return write_config_dir(
        root,
        sites=[site()],
        agents=[gw],
        devices=[device],
        files={"profiles/test-ahu.yaml": profile},
    )


def _command(cid: str, value: float | bool, point: str = "zone_setpoint", **extra: object) -> bytes:
    now = time.time_ns()
    return encode(
        Command(
            id=cid, site="s1", device="ahu1", point=point, value=value,
            issued_at=now, expires_at=now + 20_000_000_000, issuer="op", **extra,  # type: ignore[arg-type]
        )
    )  # fmt: skip


async def test_setpoint_applied_at_priority_8_relinquished_and_out_of_service_refused(
    tmp_path: Path, mosquitto: Mosquitto, topic_prefix: str
) -> None:
    net = random.Random().randrange(2, 250)
    ahu = AirHandler(1001, "ahu-1")
    root = _config(tmp_path / "cfg", mosquitto, topic_prefix, net)
    acks: list[CommandAck] = []
    tele: list[bytes] = []

    async def listen(client: aiomqtt.Client) -> None:
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            if "/ack/" in str(message.topic):
                acks.append(decode_ack(message.payload))
            else:
                tele.append(message.payload)

    def ack_of(cid: str, state: CommandState | None = None) -> CommandAck | None:
        return next((a for a in acks if a.id == cid and state in (None, a.state)), None)

    async with (
        serve_bacnet(ahu, f"127.{net}.32.2"),
        aiomqtt.Client(mosquitto.host, mosquitto.port) as mqtt,
    ):
        await mqtt.subscribe(f"{topic_prefix}/v1/ack/s1/ahu1", qos=1)
        await mqtt.subscribe(f"{topic_prefix}/v1/tele/s1/ahu1", qos=1)
        listener = asyncio.create_task(listen(mqtt))
        proc = AgentProcess(root, tmp_path / "state", tmp_path / "agent.log")
        proc.start()
        try:
            # telemetry flows only once the agent has subscribed to its command topics
            await eventually(lambda: bool(tele), 60, "telemetry from the air handler")
            cmd_topic = f"{topic_prefix}/v1/cmd/s1/ahu1"

            await mqtt.publish(cmd_topic, _command("b1", 23.5, revert_after_s=2.0), qos=1)
            await eventually(lambda: ack_of("b1") is not None, 30, "the setpoint's ack")
            applied = ack_of("b1")
            assert applied is not None and applied.state is CommandState.APPLIED, applied
            assert applied.readback == pytest.approx(23.5) and applied.previous == 21.0
            assert ahu.priority_slot("zone_setpoint", 8) == pytest.approx(23.5)
            assert ahu.present_value("zone_setpoint") == pytest.approx(23.5)

            # the hold ends: priority 8 relinquished, the schedule's default takes over
            await eventually(
                lambda: (
                    ack_of("b1", CommandState.REVERTED) is not None
                    or ack_of("b1", CommandState.FAILED) is not None
                ),
                30,
                "the revert's ack",
            )
            reverted = ack_of("b1", CommandState.REVERTED)
            assert reverted is not None and reverted.reason is None, acks
            assert ahu.priority_slot("zone_setpoint", 8) is None
            assert ahu.present_value("zone_setpoint") == pytest.approx(ahu.schedule_setpoint_c)
            assert reverted.readback == pytest.approx(ahu.schedule_setpoint_c)

            # outside the profile's limits: the edge refuses it, nothing reaches the device
            await mqtt.publish(cmd_topic, _command("b2", 35.0), qos=1)
            await eventually(lambda: ack_of("b2") is not None, 30, "the out-of-range ack")
            refused = ack_of("b2")
            assert refused is not None and refused.state is CommandState.REJECTED
            assert (refused.reason or "").startswith("out_of_range")

            # the device reports the point out of service: refused, slot 8 untouched
            ahu.set_out_of_service("zone_setpoint")
            await mqtt.publish(cmd_topic, _command("b3", 22.0), qos=1)
            await eventually(lambda: ack_of("b3") is not None, 30, "the out-of-service ack")
            oos = ack_of("b3")
            assert oos is not None and oos.state is CommandState.REJECTED, oos
            assert (oos.reason or "").startswith("out_of_service"), oos.reason
            assert "zone_setpoint" in (oos.reason or "")
            assert ahu.priority_slot("zone_setpoint", 8) is None
            assert await proc.terminate() == 0
        finally:
            proc.stop_quietly()
            listener.cancel()


async def test_binary_and_multi_state_commands_at_priority_8_and_relinquished(
    tmp_path: Path, mosquitto: Mosquitto, topic_prefix: str
) -> None:
    net = random.Random().randrange(2, 250)
    ahu = AirHandler(1001, "ahu-1", enumerated_points=True)
    root = _config(tmp_path / "cfg", mosquitto, topic_prefix, net, ENUMERATED_PROFILE)
    acks: list[CommandAck] = []
    tele: list[bytes] = []

    async def listen(client: aiomqtt.Client) -> None:
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            if "/ack/" in str(message.topic):
                acks.append(decode_ack(message.payload))
            else:
                tele.append(message.payload)

    def ack_of(cid: str, state: CommandState | None = None) -> CommandAck | None:
        return next((a for a in acks if a.id == cid and state in (None, a.state)), None)

    def ended(cid: str) -> bool:
        return any(ack_of(cid, s) for s in (CommandState.REVERTED, CommandState.FAILED))

    async with (
        serve_bacnet(ahu, f"127.{net}.32.2"),
        aiomqtt.Client(mosquitto.host, mosquitto.port) as mqtt,
    ):
        await mqtt.subscribe(f"{topic_prefix}/v1/ack/s1/ahu1", qos=1)
        await mqtt.subscribe(f"{topic_prefix}/v1/tele/s1/ahu1", qos=1)
        listener = asyncio.create_task(listen(mqtt))
        proc = AgentProcess(root, tmp_path / "state", tmp_path / "agent.log")
        proc.start()
        try:
            await eventually(lambda: bool(tele), 60, "telemetry from the air handler")
            readings = {r.point: r.value for r in decode_telemetry(tele[0]).readings}
            assert readings["fan_enable"] is True and readings["filter_alarm"] is False
            assert readings["occupancy_mode"] == 1 and type(readings["occupancy_mode"]) is int
            cmd_topic = f"{topic_prefix}/v1/cmd/s1/ahu1"

            # fan off (false) and unoccupied (2), both held 2 s
            await mqtt.publish(
                cmd_topic, _command("f1", False, "fan_enable", revert_after_s=2.0), qos=1
            )
            await mqtt.publish(
                cmd_topic, _command("m1", 2, "occupancy_mode", revert_after_s=2.0), qos=1
            )
            await eventually(lambda: bool(ack_of("f1") and ack_of("m1")), 30, "the two acks")
            fan, mode = ack_of("f1"), ack_of("m1")
            assert fan is not None and fan.state is CommandState.APPLIED, fan
            assert fan.readback is False and fan.previous is True
            assert mode is not None and mode.state is CommandState.APPLIED, mode
            assert mode.readback == 2 and mode.previous == 1
            assert ahu.priority_slot("fan_enable", 8) == 0.0  # inactive, held at 8
            assert ahu.priority_slot("occupancy_mode", 8) == 2.0

            # the holds end: both priorities relinquished, the schedule's defaults back
            await eventually(lambda: ended("f1") and ended("m1"), 30, "the reverts' acks")
            for cid in ("f1", "m1"):
                reverted = ack_of(cid, CommandState.REVERTED)
                assert reverted is not None and reverted.reason is None, acks
            assert ahu.priority_slot("fan_enable", 8) is None
            assert ahu.priority_slot("occupancy_mode", 8) is None
            assert ahu.present_value("fan_enable") == 1.0
            assert ahu.present_value("occupancy_mode") == 1.0

            # a fourth state of a three-state object: refused by the edge, nothing written
            await mqtt.publish(cmd_topic, _command("m2", 4, "occupancy_mode"), qos=1)
            await eventually(lambda: ack_of("m2") is not None, 30, "the out-of-range ack")
            refused = ack_of("m2")
            assert refused is not None and refused.state is CommandState.REJECTED
            assert (refused.reason or "").startswith("out_of_range"), refused.reason
            assert ahu.priority_slot("occupancy_mode", 8) is None

            # out of service on the device: refused before anything is written
            ahu.set_out_of_service("fan_enable")
            await mqtt.publish(cmd_topic, _command("f2", False, "fan_enable"), qos=1)
            await eventually(lambda: ack_of("f2") is not None, 30, "the out-of-service ack")
            oos = ack_of("f2")
            assert oos is not None and oos.state is CommandState.REJECTED, oos
            assert (oos.reason or "").startswith("out_of_service"), oos.reason
            assert ahu.priority_slot("fan_enable", 8) is None
            assert await proc.terminate() == 0
        finally:
            proc.stop_quietly()
            listener.cancel()
