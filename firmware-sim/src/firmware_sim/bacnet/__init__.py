"""Simulated BACnet/IP devices (bacpypes3): an air handler and a chiller plant controller with
commandable setpoints, out-of-service points and devices that stop answering."""

from firmware_sim.bacnet.chiller import ChillerPlant
from firmware_sim.bacnet.device import AirHandler, SimulatedPoints, serve_bacnet

__all__ = ["AirHandler", "ChillerPlant", "SimulatedPoints", "serve_bacnet"]
