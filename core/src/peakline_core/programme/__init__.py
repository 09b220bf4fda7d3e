"""Programme benchmarking: the same definitions for every city and district (pure numpy)."""

from peakline_core.programme.air import THRESHOLDS, AirSummary, summarise
from peakline_core.programme.benchmark import Benchmark, benchmark, combine_uncertainty

__all__ = ["THRESHOLDS", "AirSummary", "Benchmark", "benchmark", "combine_uncertainty", "summarise"]
