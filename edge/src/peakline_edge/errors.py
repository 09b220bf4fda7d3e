"""The edge agent's error tree. Third-party errors (pymodbus, aiomqtt, sqlite3) are translated
into these at the boundary, so callers (the scheduler, the command executor) handle ours only."""

from __future__ import annotations

from peakline_core.errors import PeaklineError


class EdgeError(PeaklineError):
    """Base of every error raised by peakline_edge."""


class DeviceError(EdgeError):
    """A device did not give a usable answer. `reason` is a stable code (the `kind` label of
    peakline_edge_errors): timeout, no_connection, bad_reply, exception_<code>."""

    reason = "error"

    def __init__(self, device: str, detail: str) -> None:
        super().__init__(f"{device}: {detail}")
        self.device = device
        self.detail = detail


class DeviceTimeout(DeviceError):
    """No usable answer in time (nothing, or bytes that are not a reply to the request: a
    wrong transaction or unit id, a broken frame), or no connection (retryable)."""

    reason = "timeout"


class NoConnection(DeviceTimeout):
    """The connection to the device (or its gateway / serial port) could not be made."""

    reason = "no_connection"


class BadReply(DeviceError):
    """A well-framed reply that does not answer the request (another function code, another
    register count): its data is never decoded."""

    reason = "bad_reply"


class ExceptionReply(DeviceError):
    """The device answered with a Modbus exception code (1 illegal function, 2 illegal data
    address, 3 illegal data value, 4 device failure, 6 busy, ...)."""

    def __init__(self, device: str, code: int, detail: str) -> None:
        super().__init__(device, f"exception code {code}: {detail}")
        self.code = code
        self.reason = f"exception_{code}"


class IllegalAddress(ExceptionReply):
    """Exception code 2: the block covers a register the device does not implement."""


class WriteRefused(EdgeError):
    """A write was refused before reaching the wire (read-only device, unknown or unwritable
    point, value outside the profile's limits)."""


class NotConfirmed(EdgeError):
    """A write or relinquish reached the device, but reading back shows it did not take
    (e.g. a BACnet priority slot still holds a value after the relinquish)."""

    def __init__(self, device: str, detail: str, readback: float | int | bool | None) -> None:
        super().__init__(f"{device}: {detail}")
        self.readback = readback


class SpoolError(EdgeError):
    """The on-disk spool cannot be opened or written."""


class SourcePayloadError(EdgeError):
    """An MQTT sensor's payload is not the JSON its profile describes. `reason` is a stable
    code (metrics label): oversize, malformed, not_object, bad_timestamp."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class SunSpecError(EdgeError):
    """A device's SunSpec map cannot be read: no 'SunS' marker at any base address, a model
    chain that runs off the register space or never ends, a model definition we cannot lay
    out."""
