"""The one command validator, used by the API before publishing and by the edge before writing.

The edge never trusts the platform: it runs exactly this function again with its own copy of
the configuration, its own clock and the value it just read from the device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from peakline_core.config.platform import Agent, Device
from peakline_core.config.profiles import (
    BacnetPoint,
    BacnetProfile,
    DataType,
    ModbusPoint,
    ModbusProfile,
    MqttProfile,
    WriteLimits,
)
from peakline_core.control.errors import CommandRejected
from peakline_core.control.expiry import check_not_expired
from peakline_core.wire.payloads import Command

STEP_TOLERANCE = 1e-6
"""Relative slack (in steps) for float noise when checking a value sits on the step grid."""


@dataclass(frozen=True, slots=True)
class ValidWrite:
    """A command that passed validation: what to write, in engineering units."""

    point: ModbusPoint | BacnetPoint
    value: float | bool
    is_bool: bool


def _is_bool_point(point: ModbusPoint | BacnetPoint) -> bool:
    if isinstance(point, BacnetPoint):
        return point.object_type.startswith("binary-")
    return point.table.is_bit or point.dtype in (DataType.BOOL, DataType.BIT)


def _coerce(point: ModbusPoint | BacnetPoint, raw: float | int | bool) -> tuple[float | bool, bool]:
    if _is_bool_point(point):
        if isinstance(raw, bool):
            return raw, True
        if raw in (0, 1):
            return bool(raw), True
        raise CommandRejected("bad_value", f"{point.name} is on/off: send true/false or 0/1")
    if isinstance(raw, bool):
        raise CommandRejected("bad_value", f"{point.name} is numeric, not on/off")
    value = float(raw)
    if not math.isfinite(value):
        raise CommandRejected("bad_value", f"{point.name}: value must be finite")
    multi_state = isinstance(point, BacnetPoint) and point.object_type.startswith("multi-state-")
    if multi_state and not value.is_integer():
        raise CommandRejected("bad_value", f"{point.name} is a state number 1..N, not {raw!r}")
    return value, False


def check_limits(name: str, limits: WriteLimits, value: float, anchor: float | None = None) -> None:
    """Check `value` (engineering units) against min/max, step (grid from min) and rate of
    change from `anchor` (the value a minute ago; None skips the rate check)."""
    if not limits.min <= value <= limits.max:
        raise CommandRejected(
            "out_of_range", f"{name}={value:g} outside [{limits.min:g}, {limits.max:g}]"
        )
    if limits.step is not None:
        steps = (value - limits.min) / limits.step
        if abs(steps - round(steps)) > STEP_TOLERANCE:
            raise CommandRejected(
                "off_step",
                f"{name}={value:g} is not on the {limits.step:g} step from {limits.min:g}",
            )
    if limits.max_rate_per_min is not None and anchor is not None:
        change = abs(value - anchor)
        if change > limits.max_rate_per_min * (1 + STEP_TOLERANCE):
            raise CommandRejected(
                "rate_of_change",
                f"{name}: change {change:g} from {anchor:g} exceeds "
                f"{limits.max_rate_per_min:g} per minute",
            )


def validate_command(
    command: Command,
    *,
    device: Device,
    profile: ModbusProfile | MqttProfile | BacnetProfile,
    agent: Agent | None,
    now_ns: int,
    anchor: float | None = None,
) -> ValidWrite:
    """Validate `command` for `device` at `now_ns` (UTC ns); raise CommandRejected/Expired.

    Checks, in order: the command targets this device; not expired; no read-only switch
    (agent, device, profile); the point exists and is writable; the value's type; min/max;
    step; rate of change from `anchor` (the point's value before the last minute's writes,
    when the caller knows it: the edge reads it, the API usually does not).
    """
    if command.device != device.id or command.site != device.site:
        raise CommandRejected(
            "mismatch",
            f"command for {command.site}/{command.device} sent to {device.site}/{device.id}",
        )
    check_not_expired(command.expires_at, now_ns)
    if agent is not None and agent.read_only:
        raise CommandRejected("read_only", f"agent {agent.id} is read-only")
    if device.read_only:
        raise CommandRejected("read_only", f"device {device.id} is read-only")
    if isinstance(profile, MqttProfile):
        raise CommandRejected("read_only", f"{profile.name} is an MQTT sensor: nothing to write")
    if profile.read_only:
        raise CommandRejected("read_only", f"profile {profile.name} is read-only")
    try:
        point = profile.point(command.point)
    except KeyError:
        raise CommandRejected(
            "unknown_point", f"{profile.name} has no point {command.point!r}"
        ) from None
    if point.writable is None:
        raise CommandRejected("not_writable", f"{profile.name}.{point.name} is not writable")
    value, is_bool = _coerce(point, command.value)
    check_limits(point.name, point.writable, float(value), None if is_bool else anchor)
    return ValidWrite(point=point, value=value, is_bool=is_bool)
