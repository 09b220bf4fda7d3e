"""Target trajectories (base year, peak year, yearly reduction) and progress against them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TargetTrajectory(BaseModel):
    """An emissions cap per year for a site or a city (referenced by `Site/City.target`).

    The cap is `baseline_kgco2e` in `base_year`, may grow by `growth_to_peak` a year until
    `peak_year`, then falls by `reduction_per_year` a year: ``compound`` (a fixed share of
    the previous year's cap) or ``linear`` (a fixed share of the peak-year cap).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_year: int = Field(ge=1990, le=2100)
    baseline_kgco2e: float = Field(gt=0, description="emissions in the base year, kgCO2e")
    peak_year: int = Field(ge=1990, le=2100)
    reduction_per_year: float = Field(ge=0, lt=1, description="e.g. 0.03 for 3 % a year")
    growth_to_peak: float = Field(default=0.0, ge=0, lt=1, description="allowed growth a year")
    mode: Literal["compound", "linear"] = "compound"
    scope: Literal["location", "market"] = Field(
        default="location", description="which Scope 2 method the target is set on"
    )

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.peak_year < self.base_year:
            raise ValueError("peak_year is before base_year")
        return self

    def cap(self, year: int) -> float:
        """The target for `year`, kgCO2e."""
        up = max(0, min(year, self.peak_year) - self.base_year)
        peak = self.baseline_kgco2e * (1.0 + self.growth_to_peak) ** up
        down = max(0, year - self.peak_year)
        if self.mode == "compound":
            return peak * (1.0 - self.reduction_per_year) ** down
        return peak * max(0.0, 1.0 - self.reduction_per_year * down)


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """Actual against target for one year, kgCO2e."""

    year: int
    target_kgco2e: float
    to_date_kgco2e: float
    elapsed_fraction: float
    projected_kgco2e: float
    on_track: bool

    @property
    def gap_kgco2e(self) -> float:
        """Projected minus target: positive means over the cap."""
        return self.projected_kgco2e - self.target_kgco2e


def track(
    target: TargetTrajectory,
    year: int,
    to_date_kgco2e: float,
    elapsed_fraction: float,
    expected_share_to_date: float | None = None,
) -> TargetStatus:
    """Progress in `year`: emissions so far, projected to year end.

    The projection divides emissions so far by the share of the year's emissions expected by
    now: `expected_share_to_date` when known (e.g. last year's share by this date, which
    carries the season), else the elapsed share of the year's time.
    """
    if not 0.0 < elapsed_fraction <= 1.0:
        raise ValueError("elapsed_fraction must be in (0, 1]")
    share = expected_share_to_date if expected_share_to_date else elapsed_fraction
    projected = to_date_kgco2e / share
    cap = target.cap(year)
    return TargetStatus(year, cap, to_date_kgco2e, elapsed_fraction, projected, projected <= cap)
