"""Programme benchmarking: the same definitions for every city and district (pure numpy)."""

from peakline_core.programme.air import THRESHOLDS, AirSummary, summarise
from peakline_core.programme.benchmark import Benchmark, benchmark, combine_uncertainty
from peakline_core.programme.charging import carbon_aware_plan, emissions_kg

__all__ = [
    "THRESHOLDS",
    "AirSummary",
    "Benchmark",
    "benchmark",
    "carbon_aware_plan",
    "combine_uncertainty",
    "emissions_kg",
    "summarise",
]
