"""Causal, self-calibrating anomaly scoring of many series at once (pure numpy).

`AnomalyEngine.score` takes a [series, time] block, returns a score in [0, 1] and the
detector behind it per reading plus the events (with hysteresis) opened or closed, and
carries per-series state so the next batch, or a restarted process, continues seamlessly.
See docs/anomaly.md for the methods.
"""

from peakline_core.anomaly.config import DETECTORS, AnomalyConfig
from peakline_core.anomaly.engine import AnomalyEngine, ScoreBatch, SeriesExpectation
from peakline_core.anomaly.errors import AnomalyError
from peakline_core.anomaly.events import AnomalyEvent
from peakline_core.anomaly.incidents import Incident, IncidentBook

__all__ = [
    "DETECTORS",
    "AnomalyConfig",
    "AnomalyEngine",
    "AnomalyError",
    "AnomalyEvent",
    "Incident",
    "IncidentBook",
    "ScoreBatch",
    "SeriesExpectation",
]
