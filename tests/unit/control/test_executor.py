"""The edge executor against an in-process fake of our own PointWriter seam (no wire here;
tests/integration/control runs it against a real Modbus server and mosquitto)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from peakline_core.config import Agent, Device, ModbusProfile
from peakline_core.wire import Command, CommandState, Topics, decode_ack, encode
from peakline_edge.control import CommandExecutor, HoldStore, Target
from peakline_edge.errors import DeviceTimeout

NOW = 1_800_000_000_000_000_000
PROFILE = ModbusProfile.model_validate(
    yaml.safe_load((Path(__file__).parents[3] / "config/profiles/hvac-controller.yaml").read_text())
)


class Clock:
    def __init__(self) -> None:
        self.ns = NOW

    def __call__(self) -> int:
        return self.ns


class FakeDevice:
    def __init__(self, values: dict[str, float | bool], reachable: bool = True) -> None:
        self.values = values
        self.writes: list[tuple[str, float | int | bool]] = []
        self.reachable = reachable
        self.stuck = False  # writes are accepted but nothing changes

    async def read_point(self, name: str) -> float | bool:
        if not self.reachable:
            raise DeviceTimeout("hvac1", "no answer")
        return self.values[name]

    async def write_point(self, name: str, value: float | int | bool) -> float | bool:
        if not self.reachable:
            raise DeviceTimeout("hvac1", "no answer")
        self.writes.append((name, value))
        if not self.stuck:
            self.values[name] = value
        return self.values[name]

    async def revert_point(self, name: str, previous: float | int | bool) -> float | bool:
        return await self.write_point(name, previous)


class Outbox(list[tuple[str, bytes]]):
    """Acks published by the executor, with an event set on each."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()


def device(read_only: bool = False) -> Device:
    return Device.model_validate(
        {
            "id": "hvac1",
            "site": "s1",
            "agent": "gw",
            "profile": "hvac",
            "read_only": read_only,
            "connection": {"driver": "modbus-tcp", "host": "127.0.0.1"},
        }
    )


def make(
    tmp_path: Path, fake: FakeDevice, clock: Clock, *, read_only: bool = False
) -> tuple[CommandExecutor, Outbox]:
    sent = Outbox()

    async def publish(topic: str, payload: bytes) -> None:
        sent.append((topic, payload))
        sent.arrived.set()

    profile: ModbusProfile = PROFILE
    ex = CommandExecutor(
        Agent(id="gw"),
        {"hvac1": Target(device(read_only), profile, fake)},
        publish,
        Topics("t"),
        HoldStore(tmp_path / "control.db"),
        clock_ns=clock,
        retry_delay_s=0.001,
    )
    return ex, sent


def command(value: float | bool = 22.5, point: str = "setpoint", **kw: object) -> bytes:
    fields: dict[str, object] = {
        "id": "c1",
        "site": "s1",
        "device": "hvac1",
        "point": point,
        "value": value,
        "issued_at": NOW,
        "expires_at": NOW + 30_000_000_000,
        "issuer": "op",
    }
    fields.update(kw)
    return encode(Command(**fields))  # type: ignore[arg-type]


async def test_applied_with_readback_and_redelivery(tmp_path: Path) -> None:
    fake = FakeDevice({"setpoint": 21.0})
    ex, sent = make(tmp_path, fake, Clock())
    ack = await ex.execute(command())
    assert ack is not None and ack.state is CommandState.APPLIED
    assert ack.readback == 22.5 and ack.previous == 21.0
    assert sent[0][0] == "t/v1/ack/s1/hvac1"
    assert await ex.execute(command()) is None  # redelivered: same ack again, no second write
    assert len(fake.writes) == 1 and sent[1][1] == sent[0][1]
    assert ex.stats.outcomes == {"applied": 1}  # the redelivery is not a second outcome


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (command(40.0), "out_of_range"),
        (command(26.0, id="c2"), "rate_of_change"),  # 21 -> 26 is 5 degC in a minute, max 4
        (command(22.5, point="zone_temp"), "not_writable"),
    ],
)
async def test_rejected_never_written(tmp_path: Path, payload: bytes, reason: str) -> None:
    fake = FakeDevice({"setpoint": 21.0, "zone_temp": 20.0})
    ex, _ = make(tmp_path, fake, Clock())
    ack = await ex.execute(payload)
    assert ack is not None and ack.state is CommandState.REJECTED
    assert ack.reason is not None and ack.reason.startswith(reason)
    assert fake.writes == []


async def test_read_only_device_never_touched(tmp_path: Path) -> None:
    fake = FakeDevice({"setpoint": 21.0})
    ex, _ = make(tmp_path, fake, Clock(), read_only=True)
    ack = await ex.execute(command())
    assert ack is not None and ack.state is CommandState.REJECTED and fake.writes == []


async def test_late_command_is_expired_not_executed(tmp_path: Path) -> None:
    clock = Clock()
    clock.ns = NOW + 31_000_000_000
    fake = FakeDevice({"setpoint": 21.0})
    ex, _ = make(tmp_path, fake, clock)
    ack = await ex.execute(command())
    assert ack is not None and ack.state is CommandState.EXPIRED and fake.writes == []


async def test_unreachable_device_expires(tmp_path: Path) -> None:
    fake = FakeDevice({"setpoint": 21.0}, reachable=False)
    clock = Clock()
    ex, _ = make(tmp_path, fake, clock)
    clock.ns = NOW + 29_999_999_999  # the next retry would land after the expiry
    ack = await ex.execute(command())
    assert ack is not None and ack.state is CommandState.EXPIRED and fake.writes == []


async def test_unconfirmed_write_fails_after_retries(tmp_path: Path) -> None:
    fake = FakeDevice({"setpoint": 21.0})
    fake.stuck = True
    ex, _ = make(tmp_path, fake, Clock())
    ack = await ex.execute(command())
    assert ack is not None and ack.state is CommandState.FAILED
    assert len(fake.writes) == 3 and ack.readback == 21.0


async def test_dry_run_validates_without_writing(tmp_path: Path) -> None:
    fake = FakeDevice({"setpoint": 21.0})
    ex, _ = make(tmp_path, fake, Clock())
    ack = await ex.execute(command(dry_run=True))
    assert ack is not None and ack.state is CommandState.APPLIED and fake.writes == []
    assert ack.reason is not None and ack.reason.startswith("dry_run")


async def test_revert_after_survives_a_restart(tmp_path: Path) -> None:
    fake = FakeDevice({"setpoint": 21.0})
    clock = Clock()
    ex, _ = make(tmp_path, fake, clock)
    ack = await ex.execute(command(revert_after_s=60.0))
    assert ack is not None and ack.state is CommandState.APPLIED
    ex.holds.close()  # the agent dies mid-hold
    clock.ns += 61_000_000_000
    again, sent = make(tmp_path, fake, clock)
    runner = asyncio.create_task(again.run())
    try:
        async with asyncio.timeout(10):
            await sent.arrived.wait()
    finally:
        runner.cancel()
    reverted = decode_ack(sent[0][1])
    assert reverted.state is CommandState.REVERTED and reverted.readback == 21.0
    assert fake.values["setpoint"] == 21.0 and again.holds.holds() == []
