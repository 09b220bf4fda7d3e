"""Errors of the anomaly engine."""

from __future__ import annotations

from peakline_core.errors import PeaklineError


class AnomalyError(PeaklineError):
    """Bad input to the anomaly engine (shapes, keys, timestamps) or an unreadable state."""
