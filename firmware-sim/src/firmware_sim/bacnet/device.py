"""Simulated BACnet/IP devices served by bacpypes3 on a loopback address: the shared
ground-truth and fault helpers, and an air handler.

The setpoint is a commandable analog value with a 16-slot priority array and a relinquish
default (the building's own schedule), so a test can see a write at priority 8 land in slot 8
and a relinquish (null) empty it again. With `enumerated_points` the air handler also has a
commandable binary value (fan enable), a binary input (filter alarm) and a commandable
multi-state value with state-text (occupancy mode). A point can be put out of service, and the whole
device can stop answering (its application is closed).

Note: bacpypes3 0.0.110 short-circuits any unicast to 127.x.x.x on its *own* UDP port as
addressed to itself, so on loopback a client must use another port than the devices (47809
beside 47808); network namespaces lift this (each namespace has its own loopback).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from bacpypes3.app import Application
from bacpypes3.argparse import SimpleArgumentParser
from bacpypes3.errors import PropertyError
from bacpypes3.local.analog import AnalogInputObject, AnalogValueObject
from bacpypes3.local.binary import BinaryInputObject, BinaryValueObject
from bacpypes3.local.cmd import Commandable
from bacpypes3.local.cov import GenericCriteria
from bacpypes3.local.multistate import MultiStateValueObject
from bacpypes3.primitivedata import ObjectIdentifier

BACNET_PORT = 47808


class CommandableAnalogValue(Commandable, AnalogValueObject):  # type: ignore[misc]
    """An analog value with a priority array and a relinquish default."""


class CommandableBinaryValue(Commandable, BinaryValueObject):  # type: ignore[misc]
    """A binary value (present-value active/inactive) with a priority array."""


class CommandableMultiStateValue(Commandable, MultiStateValueObject):  # type: ignore[misc]
    """A multi-state value (present-value 1..number-of-states) with a priority array; a
    state beyond them is refused value-out-of-range, as a real controller does."""

    _cov_criteria = GenericCriteria  # bacpypes3 gives it a COV increment a state has not

    async def write_property(
        self, attr: int | str, value: Any, index: int | None = None, priority: int | None = None
    ) -> None:
        if isinstance(attr, int):
            attr = self._property_identifier_class(attr).attr
        states = int(self.numberOfStates)
        if attr == "presentValue" and isinstance(value, int) and not 1 <= value <= states:
            raise PropertyError("value-out-of-range")  # bacpypes3 itself does not check
        await super().write_property(attr, value, index, priority)


OCCUPANCY_STATES = ("occupied", "unoccupied", "standby")


class SimulatedPoints:
    """Ground-truth access and faults shared by the simulated devices (`objects` by name)."""

    instance: int
    name: str
    objects: dict[str, object]

    def build(self) -> list[object]:
        raise NotImplementedError

    def priority_slot(self, point: str, priority: int) -> float | None:
        """The value in slot `priority` (1..16) of a commandable point; None when empty
        (binary: 0.0 inactive, 1.0 active; multi-state: the state number)."""
        obj = self.objects[point]
        slot = obj.priorityArray[priority - 1]  # type: ignore[attr-defined]
        for choice in ("real", "enumerated", "unsigned"):
            value = getattr(slot, choice, None)
            if value is not None:
                return float(value)
        return None

    def present_value(self, point: str) -> float:
        """present-value as a number (binary: 0.0 inactive, 1.0 active)."""
        return float(self.objects[point].presentValue)  # type: ignore[attr-defined]

    def set_value(self, point: str, value: float | int | str) -> None:
        """Set an input's present-value (the sensor moved; binary "active"/"inactive"); COV
        subscribers are notified. On a commandable point it is slot 16 (bacpypes3)."""
        self.objects[point].presentValue = value  # type: ignore[attr-defined]

    def set_out_of_service(self, point: str, out: bool = True) -> None:
        """Fault: the device reports the point out of service (commands must be refused)."""
        self.objects[point].outOfService = out  # type: ignore[attr-defined]

    def identifier(self, point: str) -> ObjectIdentifier:
        return self.objects[point].objectIdentifier  # type: ignore[attr-defined]


@dataclass
class AirHandler(SimulatedPoints):
    """Ground truth of one simulated air handler (degC, %)."""

    instance: int
    name: str
    supply_temp_c: float = 14.5
    return_temp_c: float = 23.0
    fan_speed_pct: float = 65.0
    schedule_setpoint_c: float = 21.0  # the relinquish default: the building's own schedule
    zone_sensors: int = 0  # extra analog inputs zone_temp_<n> (analog-input 100 + n), degC
    # opt-in (the bench and older tests count 4 + zone_sensors objects): fan_enable
    # (binary-value 1, commandable, the schedule's relinquish default active), filter_alarm
    # (binary-input 1) and occupancy_mode (multi-state-value 1, OCCUPANCY_STATES, commandable,
    # relinquish default 1 occupied)
    enumerated_points: bool = False
    fan_enabled: bool = True  # the schedule: fan_enable's relinquish default
    filter_alarm: bool = False
    schedule_occupancy: int = 1  # occupancy_mode's relinquish default (1 occupied)
    objects: dict[str, object] = field(default_factory=dict)

    def build(self) -> list[object]:
        """bacpypes3 objects for the points (created once per serve)."""
        self.objects = {
            "supply_temp": AnalogInputObject(
                objectIdentifier=("analog-input", 1),
                objectName="supply_temp",
                presentValue=self.supply_temp_c,
                units="degreesCelsius",
                outOfService=False,
                covIncrement=0.1,
            ),
            "return_temp": AnalogInputObject(
                objectIdentifier=("analog-input", 2),
                objectName="return_temp",
                presentValue=self.return_temp_c,
                units="degreesCelsius",
                outOfService=False,
                covIncrement=0.1,
            ),
            "fan_speed": AnalogInputObject(
                objectIdentifier=("analog-input", 3),
                objectName="fan_speed",
                presentValue=self.fan_speed_pct,
                units="percent",
                outOfService=False,
                covIncrement=0.1,
            ),
            "zone_setpoint": CommandableAnalogValue(
                objectIdentifier=("analog-value", 1),
                objectName="zone_setpoint",
                presentValue=self.schedule_setpoint_c,
                relinquishDefault=self.schedule_setpoint_c,
                units="degreesCelsius",
                outOfService=False,
            ),
        }
        for n in range(self.zone_sensors):
            self.objects[f"zone_temp_{n}"] = AnalogInputObject(
                objectIdentifier=("analog-input", 100 + n),
                objectName=f"zone_temp_{n}",
                presentValue=20.0 + (n % 7) * 0.5,
                units="degreesCelsius",
                outOfService=False,
                covIncrement=0.1,
            )
        if self.enumerated_points:
            self.objects.update(self._enumerated())
        return list(self.objects.values())

    def _enumerated(self) -> dict[str, object]:
        fan = "active" if self.fan_enabled else "inactive"
        return {
            "fan_enable": CommandableBinaryValue(
                objectIdentifier=("binary-value", 1),
                objectName="fan_enable",
                presentValue=fan,
                relinquishDefault=fan,
                activeText="on",
                inactiveText="off",
                outOfService=False,
            ),
            "filter_alarm": BinaryInputObject(
                objectIdentifier=("binary-input", 1),
                objectName="filter_alarm",
                presentValue="active" if self.filter_alarm else "inactive",
                polarity="normal",
                activeText="alarm",
                inactiveText="normal",
                outOfService=False,
            ),
            "occupancy_mode": CommandableMultiStateValue(
                objectIdentifier=("multi-state-value", 1),
                objectName="occupancy_mode",
                presentValue=self.schedule_occupancy,
                relinquishDefault=self.schedule_occupancy,
                numberOfStates=len(OCCUPANCY_STATES),
                stateText=list(OCCUPANCY_STATES),
                outOfService=False,
            ),
        }


@contextlib.asynccontextmanager
async def serve_bacnet(
    device: SimulatedPoints, host: str, port: int = BACNET_PORT, prefix: int = 8
) -> AsyncIterator[Application]:
    """Serve `device` on host:port (a 127.x.x.x address, /8 so its broadcast is local; in a
    network namespace the subnet's prefix, e.g. 24, so it hears Who-Is broadcasts).
    Leaving the context is the "stops answering" fault: the device falls silent."""
    address = f"{host}/{prefix}:{port}"
    args = SimpleArgumentParser().parse_args(
        ["--address", address, "--instance", str(device.instance), "--name", device.name]
    )
    app = Application.from_args(args)
    for obj in device.build():
        app.add_object(obj)
    try:
        yield app
    finally:
        app.close()
