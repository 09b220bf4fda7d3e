"""Programme benchmarking: the same definitions for every city and district (pure numpy)."""

from peakline_core.programme.benchmark import Benchmark, benchmark, combine_uncertainty

__all__ = ["Benchmark", "benchmark", "combine_uncertainty"]
