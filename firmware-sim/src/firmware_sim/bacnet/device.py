"""Simulated BACnet/IP devices served by bacpypes3 on a loopback address: the shared
ground-truth and fault helpers, and an air handler.

The setpoint is a commandable analog value with a 16-slot priority array and a relinquish
default (the building's own schedule), so a test can see a write at priority 8 land in slot 8
and a relinquish (null) empty it again. A point can be put out of service, and the whole
device can stop answering (its application is closed).

Note: bacpypes3 0.0.110 short-circuits any unicast to 127.x.x.x on its *own* UDP port as
addressed to itself, so on loopback a client must use another port than the devices (47809
beside 47808); network namespaces lift this (each namespace has its own loopback).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from bacpypes3.app import Application
from bacpypes3.argparse import SimpleArgumentParser
from bacpypes3.local.analog import AnalogInputObject, AnalogValueObject
from bacpypes3.local.cmd import Commandable
from bacpypes3.primitivedata import ObjectIdentifier

BACNET_PORT = 47808


class CommandableAnalogValue(Commandable, AnalogValueObject):  # type: ignore[misc]
    """An analog value with a priority array and a relinquish default."""


class SimulatedPoints:
    """Ground-truth access and faults shared by the simulated devices (`objects` by name)."""

    instance: int
    name: str
    objects: dict[str, object]

    def build(self) -> list[object]:
        raise NotImplementedError

    def priority_slot(self, point: str, priority: int) -> float | None:
        """The value in slot `priority` (1..16) of a commandable point; None when empty."""
        obj = self.objects[point]
        slot = obj.priorityArray[priority - 1]  # type: ignore[attr-defined]
        value = getattr(slot, "real", None)
        return None if value is None else float(value)

    def present_value(self, point: str) -> float:
        return float(self.objects[point].presentValue)  # type: ignore[attr-defined]

    def set_value(self, point: str, value: float) -> None:
        """Set an input's present-value (the sensor moved); COV subscribers are notified."""
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
        return list(self.objects.values())


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
