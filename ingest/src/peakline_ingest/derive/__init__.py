"""Derivation from stored readings: energy per window, roll-ups, emissions, anomaly scores."""

from peakline_ingest.derive.deriver import Deriver, DeriveSettings
from peakline_ingest.derive.late import LateMarks
from peakline_ingest.derive.sources import EnergySource, sources_from_config

__all__ = ["DeriveSettings", "Deriver", "EnergySource", "LateMarks", "sources_from_config"]
