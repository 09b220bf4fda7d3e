"""firmware-sim's error tree: every failure the simulator reports is one of these."""

from __future__ import annotations

from peakline_core.errors import PeaklineError


class SimError(PeaklineError):
    """Base of every firmware-sim error."""


class ScenarioError(SimError):
    """A scenario file or object is invalid (unknown profile, device, point or fault)."""


class ClockError(SimError):
    """A value was asked for a time the simulation has already moved past, or a manual clock
    was moved backwards."""


class ServeError(SimError):
    """A listener could not be started (port in use, serial path missing)."""
