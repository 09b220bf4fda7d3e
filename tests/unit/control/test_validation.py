"""The shared command validator: every refusal reason, and the values that pass."""

from __future__ import annotations

import pytest

from peakline_core.config import Agent, Device, ModbusProfile
from peakline_core.control import (
    ChangeWindow,
    CommandExpired,
    CommandRate,
    CommandRejected,
    expires_at_ns,
    validate_command,
)
from peakline_core.wire import Command

NOW = 1_800_000_000_000_000_000

PROFILE = ModbusProfile.model_validate(
    {
        "name": "hvac",
        "kind": "hvac",
        "points": [
            {"name": "zone_temp", "table": "input", "address": 0, "dtype": "int16", "scale": 0.1},
            {
                "name": "setpoint",
                "table": "holding",
                "address": 100,
                "dtype": "int16",
                "scale": 0.1,
                "writable": {"min": 16, "max": 28, "step": 0.5, "max_rate_per_min": 4},
            },
            {
                "name": "running",
                "table": "coil",
                "address": 0,
                "dtype": "bool",
                "writable": {"min": 0, "max": 1},
            },
        ],
    }
)
DEVICE = Device.model_validate(
    {
        "id": "hvac1",
        "site": "s1",
        "agent": "gw",
        "profile": "hvac",
        "connection": {"driver": "modbus-tcp", "host": "127.0.0.1"},
    }
)
AGENT = Agent(id="gw")


def cmd(point: str = "setpoint", value: float | bool = 22.0, **kw: object) -> Command:
    fields: dict[str, object] = {
        "id": "c1",
        "site": "s1",
        "device": "hvac1",
        "point": point,
        "value": value,
        "issued_at": NOW,
        "expires_at": NOW + 60_000_000_000,
        "issuer": "op",
    }
    fields.update(kw)
    return Command(**fields)  # type: ignore[arg-type]


def check(c: Command, **kw: object) -> object:
    args: dict[str, object] = {"device": DEVICE, "profile": PROFILE, "agent": AGENT, "now_ns": NOW}
    args.update(kw)
    return validate_command(c, **args)  # type: ignore[arg-type]


def reason(c: Command, **kw: object) -> str:
    with pytest.raises(CommandRejected) as info:
        check(c, **kw)
    return info.value.reason


def test_valid_setpoint_and_coil() -> None:
    ok = check(cmd(value=22.5), anchor=21.0)
    assert ok.value == 22.5 and not ok.is_bool  # type: ignore[attr-defined]
    coil = check(cmd("running", 0))
    assert coil.value is False and coil.is_bool  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("command", "kwargs", "expected"),
    [
        (cmd(value=29.0), {}, "out_of_range"),
        (cmd(value=15.5), {}, "out_of_range"),
        (cmd(value=22.3), {}, "off_step"),
        (cmd(value=27.0), {"anchor": 22.0}, "rate_of_change"),
        (cmd("zone_temp", 20.0), {}, "not_writable"),
        (cmd("nope", 1.0), {}, "unknown_point"),
        (cmd("running", 2), {}, "bad_value"),
        (cmd(value=True), {}, "bad_value"),
        (cmd(value=float("inf")), {}, "bad_value"),
        (cmd(device="other"), {}, "mismatch"),
        (cmd(), {"agent": Agent(id="gw", read_only=True)}, "read_only"),
        (cmd(), {"device": DEVICE.model_copy(update={"read_only": True})}, "read_only"),
    ],
)
def test_rejections(command: Command, kwargs: dict[str, object], expected: str) -> None:
    assert reason(command, **kwargs) == expected


def test_read_only_profile_refused() -> None:
    ro = PROFILE.model_copy(update={"read_only": True})
    assert reason(cmd(), profile=ro) == "read_only"


def test_expired_at_the_deadline() -> None:
    c = cmd(expires_at=NOW)
    with pytest.raises(CommandExpired):
        check(c)
    check(c, now_ns=NOW - 1)


def test_expiry_bounds() -> None:
    assert expires_at_ns(NOW, 30) == NOW + 30_000_000_000
    with pytest.raises(CommandRejected):
        expires_at_ns(NOW, 0.5)
    with pytest.raises(CommandRejected):
        expires_at_ns(NOW, 90_000)


def test_command_rate_sliding_minute() -> None:
    rate = CommandRate(max_per_min=2)
    rate.admit("d", NOW)
    rate.admit("d", NOW + 1)
    with pytest.raises(CommandRejected) as info:
        rate.admit("d", NOW + 2)
    assert info.value.reason == "rate_limited"
    rate.admit("other", NOW + 2)
    rate.admit("d", NOW + 60_000_000_000)  # the first one left the window


def test_change_window_bursts_add_up() -> None:
    window = ChangeWindow()
    assert window.anchor("d", "p", NOW, 20.0) == 20.0
    window.record("d", "p", NOW, 20.0)
    # a second write 10 s later is measured from 20, not from the 23 it now holds
    assert window.anchor("d", "p", NOW + 10_000_000_000, 23.0) == 20.0
    assert window.anchor("d", "p", NOW + 61_000_000_000, 23.0) == 23.0
