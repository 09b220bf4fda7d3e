"""The executor with a BACnet profile, against an in-process fake of our own PointWriter seam
that keeps a 16-slot priority array: the command lifecycle is the Modbus one, but a revert
relinquishes the point's priority instead of writing the old value back, and a point out of
service is refused before anything is written. (tests/integration/control/
test_executor_bacnet.py runs the real agent against a firmware-sim BACnet device.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from peakline_core.config import Agent, BacnetProfile, Device
from peakline_core.control import CommandRejected, validate_command
from peakline_core.wire import Command, CommandState, Topics, decode_ack, encode
from peakline_edge.control import CommandExecutor, HoldStore, Target, confirmed
from peakline_edge.errors import NotConfirmed, WriteRefused

NOW = 1_800_000_000_000_000_000
PROFILE = BacnetProfile.model_validate(
    {
        "protocol": "bacnet",
        "name": "ahu",
        "kind": "hvac",
        "points": [
            {"name": "supply_temp", "object_type": "analog-input", "instance": 1},
            {"name": "zone_setpoint", "object_type": "analog-value", "instance": 1,
             "writable": {"min": 16, "max": 28, "step": 0.5}},
            {"name": "chw_setpoint", "object_type": "analog-value", "instance": 2, "priority": 10,
             "writable": {"min": 5, "max": 12}},
            {"name": "fan_enable", "object_type": "binary-value", "instance": 1,
             "writable": {"min": 0, "max": 1}},
            {"name": "occupancy_mode", "object_type": "multi-state-value", "instance": 1,
             "states": ["occupied", "unoccupied", "standby"],
             "writable": {"min": 1, "max": 3, "step": 1}},
        ],
    }
)  # fmt: skip
DEVICE = Device.model_validate(
    {"id": "ahu1", "site": "s1", "agent": "gw", "profile": "ahu",
     "connection": {"driver": "bacnet", "address": "127.0.0.1", "device_instance": 1001}}
)  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.ns = NOW

    def __call__(self) -> int:
        return self.ns


class FakeCommandable:
    """A commandable point: present-value is the highest-priority slot, else the default."""

    def __init__(self, default: float) -> None:
        self.default = default
        self.slots: list[float | None] = [None] * 16
        self.out_of_service = False
        self.sticky = False  # a relinquish the device ignores

    @property
    def value(self) -> float:
        return next((v for v in self.slots if v is not None), self.default)


class FakeBacnet:
    def __init__(self) -> None:
        self.points = {"zone_setpoint": FakeCommandable(21.0), "chw_setpoint": FakeCommandable(7)}
        self.calls: list[tuple[str, str, object]] = []

    async def read_point(self, name: str) -> float:
        return self.points[name].value

    async def write_point(self, name: str, value: float | int | bool) -> float:
        point = self.points[name]
        if point.out_of_service:
            raise WriteRefused(f"out_of_service: ahu1.{name} is out of service on the device")
        self.calls.append(("write", name, value))
        point.slots[PROFILE.point(name).priority - 1] = float(value)
        return point.value

    async def revert_point(self, name: str, previous: float | int | bool) -> float:
        point = self.points[name]
        self.calls.append(("relinquish", name, previous))
        priority = PROFILE.point(name).priority
        if not point.sticky:
            point.slots[priority - 1] = None
        left = point.slots[priority - 1]
        if left is not None:
            raise NotConfirmed("ahu1", f"{name}: priority {priority} still holds {left}", left)
        return point.value


class Outbox(list[bytes]):
    """Acks published by the executor, with an event set on each."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = asyncio.Event()


def make(tmp_path: Path, fake: FakeBacnet, clock: Clock) -> tuple[CommandExecutor, Outbox]:
    sent = Outbox()

    async def publish(topic: str, payload: bytes) -> None:
        sent.append(payload)
        sent.arrived.set()

    ex = CommandExecutor(
        Agent(id="gw"),
        {"ahu1": Target(DEVICE, PROFILE, fake)},
        publish,
        Topics("t"),
        HoldStore(tmp_path / "control.db"),
        clock_ns=clock,
        retry_delay_s=0.001,
    )
    return ex, sent


def command(value: float | bool = 23.5, point: str = "zone_setpoint", **kw: object) -> Command:
    fields: dict[str, object] = {
        "id": "c1", "site": "s1", "device": "ahu1", "point": point, "value": value,
        "issued_at": NOW, "expires_at": NOW + 30_000_000_000, "issuer": "op",
    }  # fmt: skip
    fields.update(kw)
    return Command(**fields)  # type: ignore[arg-type]


async def _revert_due(ex: CommandExecutor, sent: Outbox, count: int) -> None:
    """Run the executor until `count` acks were sent (the due hold's revert among them)."""
    runner = asyncio.create_task(ex.run())
    try:
        async with asyncio.timeout(10):
            while len(sent) < count:
                sent.arrived.clear()
                await sent.arrived.wait()
    finally:
        runner.cancel()


async def test_applied_at_the_points_priority_then_relinquished(tmp_path: Path) -> None:
    fake, clock = FakeBacnet(), Clock()
    ex, sent = make(tmp_path, fake, clock)
    ack = await ex.execute(encode(command(revert_after_s=60.0)))
    assert ack is not None and ack.state is CommandState.APPLIED
    assert ack.readback == 23.5 and ack.previous == 21.0
    assert fake.points["zone_setpoint"].slots[7] == 23.5  # slot 8: manual operator
    # the building's schedule moves the default while the hold is on
    fake.points["zone_setpoint"].default = 20.0
    clock.ns += 61_000_000_000
    await _revert_due(ex, sent, 2)
    reverted = decode_ack(sent[1])
    assert reverted.state is CommandState.REVERTED and reverted.reason is None
    assert reverted.readback == 20.0  # the schedule's value, not the 21.0 read before
    assert fake.calls[-1] == ("relinquish", "zone_setpoint", 21.0)
    assert fake.points["zone_setpoint"].slots == [None] * 16
    assert not any(c[0] == "write" and c[2] == 21.0 for c in fake.calls)


async def test_a_points_own_priority_is_used(tmp_path: Path) -> None:
    fake = FakeBacnet()
    ex, _ = make(tmp_path, fake, Clock())
    ack = await ex.execute(encode(command(9.0, "chw_setpoint")))
    assert ack is not None and ack.state is CommandState.APPLIED
    assert (
        fake.points["chw_setpoint"].slots[9] == 9.0 and fake.points["chw_setpoint"].slots[7] is None
    )


async def test_out_of_service_is_refused_with_its_reason(tmp_path: Path) -> None:
    fake = FakeBacnet()
    fake.points["zone_setpoint"].out_of_service = True
    ex, _ = make(tmp_path, fake, Clock())
    ack = await ex.execute(encode(command()))
    assert ack is not None and ack.state is CommandState.REJECTED
    assert ack.reason is not None and ack.reason.startswith("out_of_service")
    assert fake.calls == [] and fake.points["zone_setpoint"].slots == [None] * 16


async def test_a_relinquish_the_device_ignores_is_reported_failed(tmp_path: Path) -> None:
    fake, clock = FakeBacnet(), Clock()
    ex, sent = make(tmp_path, fake, clock)
    await ex.execute(encode(command(revert_after_s=5.0)))
    fake.points["zone_setpoint"].sticky = True
    clock.ns += 6_000_000_000
    await _revert_due(ex, sent, 2)
    failed = decode_ack(sent[1])
    assert failed.state is CommandState.FAILED and failed.reason is not None
    assert "priority 8 still holds 23.5" in failed.reason and failed.readback == 23.5
    assert ex.holds.holds() == []


@pytest.mark.parametrize(
    ("cmd", "reason"),
    [
        (command(40.0), "out_of_range"),
        (command(22.3), "off_step"),
        (command(22.0, "supply_temp"), "not_writable"),
        (command(2, "fan_enable"), "bad_value"),  # on/off: a bool or 0/1 only
        (command(0.5, "fan_enable"), "bad_value"),
        (command(4, "occupancy_mode"), "out_of_range"),  # states 1..3
        (command(0, "occupancy_mode"), "out_of_range"),
        (command(1.5, "occupancy_mode"), "bad_value"),  # a state number, not between two
        (command(True, "occupancy_mode"), "bad_value"),
        (command(22.0, "nope"), "unknown_point"),
    ],
)
def test_validation_of_bacnet_points(cmd: Command, reason: str) -> None:
    with pytest.raises(CommandRejected) as info:
        validate_command(cmd, device=DEVICE, profile=PROFILE, agent=None, now_ns=NOW)
    assert info.value.reason == reason


@pytest.mark.parametrize(
    ("value", "point", "wanted", "is_bool"),
    [(True, "fan_enable", True, True), (0, "fan_enable", False, True),
     (3, "occupancy_mode", 3.0, False)],
)  # fmt: skip
def test_binary_and_multi_state_commands_pass(
    value: float | bool, point: str, wanted: float | bool, is_bool: bool
) -> None:
    ok = validate_command(
        command(value, point), device=DEVICE, profile=PROFILE, agent=None, now_ns=NOW
    )
    assert ok.value == wanted and type(ok.value) is type(wanted) and ok.is_bool is is_bool


def test_a_valid_bacnet_setpoint_passes() -> None:
    ok = validate_command(command(22.5), device=DEVICE, profile=PROFILE, agent=None, now_ns=NOW)
    assert ok.value == 22.5 and not ok.is_bool and ok.point.name == "zone_setpoint"


def test_real_readback_confirmed_within_float32_precision() -> None:
    point = PROFILE.point("chw_setpoint")
    assert confirmed(point, 7.3, 7.300000190734863)  # 7.3 as a BACnet REAL
    assert not confirmed(point, 7.3, 7.31)
