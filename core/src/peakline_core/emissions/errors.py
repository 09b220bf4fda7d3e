"""The emissions core's error tree."""

from __future__ import annotations

from peakline_core.errors import PeaklineError


class EmissionsError(PeaklineError):
    """Base of every error raised by peakline_core.emissions."""


class FactorNotFound(EmissionsError):
    """No factor in the factor book matches the region, gas, kind and year asked for."""


class UnitError(EmissionsError):
    """A factor's unit string cannot be parsed or converted to the unit asked for."""


class ShapeError(EmissionsError):
    """Arrays passed together do not have compatible [sites, time] shapes."""


class IntensityParseError(EmissionsError):
    """A grid carbon intensity CSV file or MQTT payload is malformed.

    `reason` is a short, stable code (metrics label, dead letters); `detail` says what was wrong.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
