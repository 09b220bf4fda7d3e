"""The error tree of peakline's core: every failure of a pure function is one of these."""

from __future__ import annotations


class PeaklineError(Exception):
    """Root of every peakline error. Core's own errors subclass it directly; each other package
    has one root under it (`EdgeError`, `StorePackageError`, `IngestError`, `ApiError`, `SimError`,
    `CliError`)."""


class PayloadError(PeaklineError):
    """A wire payload could not be decoded or failed validation.

    `reason` is a short, stable machine-readable code (used as a metrics label and in dead
    letters); `detail` says what exactly was wrong.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class TopicError(PeaklineError):
    """An MQTT topic does not follow the peakline topic scheme."""


class ConfigError(PeaklineError):
    """A configuration file or directory is invalid.

    `issues` lists every problem found as (file, path inside the file, message).
    """

    def __init__(self, issues: list[tuple[str, str, str]]) -> None:
        self.issues = issues
        lines = [f"{file}: {path or '<root>'}: {message}" for file, path, message in issues]
        super().__init__("invalid configuration:\n  " + "\n  ".join(lines))


class RegisterError(PeaklineError):
    """A register block or value cannot be encoded or decoded for a point."""
