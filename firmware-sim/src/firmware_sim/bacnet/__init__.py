"""Simulated BACnet/IP devices (bacpypes3): an air handler with commandable setpoints."""

from firmware_sim.bacnet.device import AirHandler, serve_bacnet

__all__ = ["AirHandler", "serve_bacnet"]
