"""A BACnet/IP chiller plant controller: the chilled-water loop of
`firmware_sim.physics.chiller` (the HVAC zones' control law) behind BACnet objects.

`step(dt_s)` advances the loop with the setpoint's present-value (whatever priority wins: an
operator's slot 8 or the relinquish default, the building's schedule), so a command raising
the setpoint cuts cooling and electric power at the next step, and a relinquish restores it.
`chiller_enable` (a commandable binary value, relinquish default active) runs the plant: an
inactive at slot 8 stops it (no cooling, no power) until relinquished.
Faults: a point out of service (`set_out_of_service`) and a plant that stops answering (leave
`serve_bacnet`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from bacpypes3.local.analog import AnalogInputObject

from firmware_sim.bacnet.device import (
    CommandableAnalogValue,
    CommandableBinaryValue,
    SimulatedPoints,
)
from firmware_sim.physics.chiller import chiller_step

_INPUTS = {  # name: (instance, units)
    "chw_supply_temp": (1, "degreesCelsius"),
    "chw_return_temp": (2, "degreesCelsius"),
    "cooling_load": (3, "kilowatts"),
    "chiller_power": (4, "kilowatts"),
}


@dataclass
class ChillerPlant(SimulatedPoints):
    """Ground truth of one simulated chiller plant (degC, kW)."""

    instance: int
    name: str
    schedule_setpoint_c: float = 7.0  # chilled-water supply setpoint: the relinquish default
    load_kw: float = 300.0  # the building's cooling load
    capacity_kw: float = 600.0
    loop_mass_kwh_per_k: float = 5.0
    flow_kg_s: float = 25.0
    cop: float = 5.0
    pump_kw: float = 15.0
    supply_c: float = 7.0
    objects: dict[str, object] = field(default_factory=dict)

    def build(self) -> list[object]:
        """bacpypes3 objects for the points (created once per serve)."""
        self.objects = {
            name: AnalogInputObject(
                objectIdentifier=("analog-input", number),
                objectName=name,
                presentValue=0.0,
                units=units,
                outOfService=False,
                covIncrement=0.1,
            )
            for name, (number, units) in _INPUTS.items()
        }
        self.objects["chw_setpoint"] = CommandableAnalogValue(
            objectIdentifier=("analog-value", 1),
            objectName="chw_setpoint",
            presentValue=self.schedule_setpoint_c,
            relinquishDefault=self.schedule_setpoint_c,
            units="degreesCelsius",
            outOfService=False,
        )
        self.objects["chiller_enable"] = CommandableBinaryValue(
            objectIdentifier=("binary-value", 1),
            objectName="chiller_enable",
            presentValue="active",
            relinquishDefault="active",  # the schedule runs the plant
            outOfService=False,
        )
        self.step(0.0)
        return list(self.objects.values())

    def step(self, dt_s: float) -> None:
        """Advance the loop by `dt_s` seconds and publish the new values on the objects."""
        one = np.ones(1)
        out = chiller_step(
            np.array([self.supply_c]),
            np.array([self.present_value("chw_setpoint")]),
            np.array([self.load_kw]),
            capacity_kw=one * self.capacity_kw,
            loop_mass_kwh_per_k=one * self.loop_mass_kwh_per_k,
            flow_kg_s=one * self.flow_kg_s,
            cop=one * self.cop,
            pump_kw=one * self.pump_kw,
            running=one * self.present_value("chiller_enable"),
            dt_s=dt_s,
        )
        self.supply_c = float(out.supply_c[0])
        values = {
            "chw_supply_temp": self.supply_c,
            "chw_return_temp": float(out.return_c[0]),
            "cooling_load": self.load_kw,
            "chiller_power": float(out.power_kw[0]),
        }
        for name, value in values.items():
            self.set_value(name, value)
