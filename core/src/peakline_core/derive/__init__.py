"""Derived figures from stored readings: glitch-robust energy per aligned window.

Pure and causal: a walk per source (`walk_counter`, `walk_power`) turns readings into energy
intervals with a quality, `to_windows` shares them among aligned windows, and a
`WindowBook` holds a source's recent windows so each is written whole. The ingest deriver
(peakline_ingest.derive) wires these to the store.
"""

from peakline_core.derive.book import WindowBook
from peakline_core.derive.counter import (
    CounterLimits,
    CounterState,
    CounterStats,
    counter_intervals,
    walk_counter,
)
from peakline_core.derive.intervals import (
    EnergyQuality,
    Intervals,
    IntervalSink,
    Windows,
    to_windows,
)
from peakline_core.derive.power import PowerLimits, PowerState, walk_power

__all__ = [
    "CounterLimits",
    "CounterState",
    "CounterStats",
    "EnergyQuality",
    "IntervalSink",
    "Intervals",
    "PowerLimits",
    "PowerState",
    "WindowBook",
    "Windows",
    "counter_intervals",
    "to_windows",
    "walk_counter",
    "walk_power",
]
