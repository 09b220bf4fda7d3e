"""The CLI's error root: provisioning, the demo and the servers it launches."""

from __future__ import annotations

from peakline_core.errors import PeaklineError


class CliError(PeaklineError):
    """Base of every error raised by peakline_cli."""
