"""firmware_sim: simulated Modbus and MQTT devices with physics, faults and ground truth.

Public API: `Scenario` (load with Scenario.from_yaml), `load_profiles(dir)`, `run(...)` (an
async context manager serving every device), `MqttLogin` (the MQTT sensors' broker login),
`render(...)` (offline, no network), `Fault`, `write_ground_truth`, `read_ground_truth`.
"""

from firmware_sim.errors import ClockError, ScenarioError, ServeError, SimError
from firmware_sim.faults import Fault, read_ground_truth, write_ground_truth
from firmware_sim.mqtt import MqttLogin
from firmware_sim.profiles import load_profiles
from firmware_sim.render import Rendered, render
from firmware_sim.runtime import Endpoint, Simulation, run
from firmware_sim.scenario import DeviceSpec, FaultKind, FaultSpec, Physics, Scenario

__all__ = [
    "ClockError",
    "DeviceSpec",
    "Endpoint",
    "Fault",
    "FaultKind",
    "FaultSpec",
    "MqttLogin",
    "Physics",
    "Rendered",
    "Scenario",
    "ScenarioError",
    "ServeError",
    "SimError",
    "Simulation",
    "load_profiles",
    "read_ground_truth",
    "render",
    "run",
    "write_ground_truth",
]
