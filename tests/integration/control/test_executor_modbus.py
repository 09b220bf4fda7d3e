"""The executor over the real Modbus stack (ModbusDevice, ModbusBus, pymodbus client) against a
Modbus TCP peer: the enable sequence is written first, relays are written and read back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from peakline_core.config import Agent, Device, ModbusProfile
from peakline_core.wire import Command, CommandState, Topics, encode
from peakline_edge.bus import ModbusBus
from peakline_edge.control import CommandExecutor, HoldStore, Target
from peakline_edge.device import ModbusDevice
from peakline_testing.modbus_peer import Peer, modbus_peer
from tests.integration.control.control_rig import REPO, RUNNING, SETPOINT, hvac_unit

ENABLE = 200  # holding register of the "write enable" in the test profile


@dataclass
class Stack:
    executor: CommandExecutor
    peer: Peer


def profile_with_enable() -> ModbusProfile:
    data = yaml.safe_load((REPO / "config/profiles/hvac-controller.yaml").read_text())
    data["points"].append(
        {"name": "write_enable", "table": "holding", "address": ENABLE, "dtype": "uint16",
         "writable": {"min": 0, "max": 1}}
    )  # fmt: skip
    data["enable"] = {"point": "write_enable", "value": 1}
    return ModbusProfile.model_validate(data)


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    unit = hvac_unit()
    unit.holding[ENABLE] = 0
    async with modbus_peer({1: unit}) as peer:
        device = Device.model_validate(
            {"id": "hvac1", "site": "s1", "agent": "gw", "profile": "hvac-controller",
             "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": peer.port,
                            "timeout_s": 0.5}}
        )  # fmt: skip
        assert device.connection.driver == "modbus-tcp"
        async with ModbusBus(device.connection) as bus:
            profile = profile_with_enable()
            acks: list[tuple[str, bytes]] = []

            async def publish(topic: str, payload: bytes) -> None:
                acks.append((topic, payload))

            with HoldStore(tmp_path / "control.db") as holds:
                executor = CommandExecutor(
                    Agent(id="gw"),
                    {"hvac1": Target(device, profile, ModbusDevice(device, profile, bus))},
                    publish,
                    Topics("t"),
                    holds,
                )
                yield Stack(executor, peer)


def command(cid: str, point: str, value: float | bool) -> bytes:
    now = time.time_ns()
    return encode(
        Command(id=cid, site="s1", device="hvac1", point=point, value=value, issued_at=now,
                expires_at=now + 30_000_000_000, issuer="op")
    )  # fmt: skip


async def test_enable_register_written_before_the_setpoint(stack: Stack) -> None:
    ack = await stack.executor.execute(command("c1", "setpoint", 22.5))
    assert ack is not None and ack.state is CommandState.APPLIED and ack.readback == 22.5
    order = [(fc, address, values) for _, fc, address, values in stack.peer.writes]
    assert order == [(6, ENABLE, [1]), (6, SETPOINT, [225])]


async def test_relay_off_with_read_back(stack: Stack) -> None:
    ack = await stack.executor.execute(command("c2", "running", False))
    assert ack is not None and ack.state is CommandState.APPLIED and ack.readback is False
    assert stack.peer.units[1].coil[RUNNING] == 0
    assert (5, RUNNING, [0]) in [(fc, a, v) for _, fc, a, v in stack.peer.writes]
