"""Measurement and verification of retrofit savings (vectorized across sites)."""

from peakline_core.mv.regression import (
    BaselineError,
    BaselineModel,
    SavingsReport,
    fit_baseline,
    predict,
    savings,
)

__all__ = ["BaselineError", "BaselineModel", "SavingsReport", "fit_baseline", "predict", "savings"]
