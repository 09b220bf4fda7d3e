"""Settings of the anomaly engine: every default works untuned on any series.

Time constants are in seconds (UTC) or in readings; scores are in [0, 1]. Each knob is a
property of the method, not of a particular series: per-series scale, tail weight, seasonal
shape, sampling interval and change rate are all learnt online from the series itself.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

DETECTORS: tuple[str, ...] = (
    "none",
    "spike",
    "seasonal",
    "drift",
    "flatline",
    "gap",
    "limit",
    "rate",
    "counter_reset",
    "rollover",
    "novelty",
)
"""Detector names; `ScoreBatch.detector` holds indices into this tuple (int8)."""

(NONE, SPIKE, SEASONAL, DRIFT, FLATLINE, GAP, LIMIT, RATE, COUNTER_RESET, ROLLOVER, NOVELTY) = (
    range(11)
)
HARD = (LIMIT, RATE, COUNTER_RESET, ROLLOVER)
"""Threshold-free verdicts: they score directly and may open an event at once."""


class AnomalyConfig(BaseModel):
    """Method constants of the anomaly engine (no per-series tuning needed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # robust level / spread (spikes)
    level_alpha: float = Field(
        default=0.3, gt=0, le=1, description="weight of a new reading in the robust level"
    )
    trend_gamma: float = Field(
        default=0.1, ge=0, le=1, description="trend share of a level correction (robust Holt)"
    )
    scale_halflife_s: float = Field(
        default=2 * 86400.0, gt=0, description="memory of the innovation spread (seconds)"
    )
    scale_halflife_readings: float = Field(
        default=50.0, gt=0, description="...but never shorter than this many readings"
    )
    huber_c: float = Field(default=3.0, gt=0, description="robust clip, in spreads")
    warmup_readings: int = Field(default=10, ge=2, description="changes seen before spikes score")
    spread_dof_s: float = Field(
        default=3600.0,
        gt=0,
        description="seconds of history worth one degree of freedom of the spike spread",
    )
    tail_p: float = Field(
        default=0.01, gt=0, lt=0.5, description="tail probability the z-scores calibrate to"
    )
    tail_rate: float = Field(default=0.05, gt=0, lt=1, description="tail tracker step")
    # seasonal profile: 24 hours x {weekday, weekend}
    season_memory_visits: float = Field(
        default=6.0, ge=1, description="profile bins average over about this many visits"
    )
    season_warmup_visits: float = Field(
        default=2.0, gt=0, description="visits of a bin before it scores"
    )
    # drift: EWMA chart on seasonal residuals with empirically calibrated limits
    drift_halflife_s: float = Field(default=2 * 3600.0, gt=0)
    drift_cap_z: float = Field(
        default=8.0, gt=0, description="the chart is held within this many sd (fast recovery)"
    )
    drift_var_halflife_s: float = Field(default=7 * 86400.0, gt=0)
    drift_warmup_s: float = Field(default=86400.0, ge=0)
    # flatline: surprise of a run of unchanged values given the bin's rate of changes
    flat_q_min: float = Field(
        default=0.01,
        gt=0,
        lt=1,
        description="floor of P(unchanged) over one learnt interval; a repeat costs at most "
        "-ln of it",
    )
    flat_step_limited: float = Field(
        default=3.0,
        gt=0,
        description="a value whose mean innovation is at most this many register steps "
        "changes by steps, at a rate per second: its repeats are judged by the time held "
        "(readings every 10 s after 15-minute ones); a noisier one by readings repeated",
    )
    # counters: the modelled rate is measured over a span long enough for the register
    counter_steps: float = Field(
        default=10.0,
        gt=0,
        description="a counter's rate is measured once it has moved this many resolution steps "
        "(quantization error under 1/counter_steps of the rate)",
    )
    counter_min_span_s: float = Field(
        default=30.0, ge=0, description="...over at least this span (s)"
    )
    counter_max_span_s: float = Field(
        default=900.0,
        gt=0,
        description="...or over this span (s) whatever it moved (a still counter reads 0)",
    )
    counter_step_learn_s: float = Field(
        default=60.0,
        ge=0,
        description="an undeclared register's resolution is its smallest step over intervals "
        "up to this long (s); a coarse reading's step is many units, not one",
    )
    # gaps
    gap_halflife_readings: float = Field(default=50.0, gt=0)
    gap_warmup_readings: int = Field(default=10, ge=2)
    # novelty: a reading beyond the range held so far, against the series' own rate of new
    # extremes
    novelty_memory_readings: float = Field(
        default=1000.0, ge=1, description="memory of the rate of new extremes (readings)"
    )
    # calibrated mapping z -> score: 0 below z_zero, 0.5 at z_half
    z_zero: float = Field(default=4.0, ge=0)
    z_half: float = Field(default=6.0, gt=0)
    rollover_score: float = Field(default=0.5, ge=0, le=1)
    # events with hysteresis
    event_open: float = Field(default=0.5, gt=0, le=1, description="score that opens an event")
    event_close: float = Field(default=0.25, ge=0, le=1, description="score that keeps it open")
    alarm_refractory_readings: int = Field(
        default=100,
        ge=0,
        description="after an alarm, the series' next readings score below event_open "
        "(one incident, one alarm); hard verdicts are exempt",
    )
    event_quiet_readings: int = Field(default=5, ge=1)
    event_quiet_s: float = Field(default=900.0, ge=0)
    event_warmup_s: float = Field(
        default=86400.0 + 3600.0,
        ge=0,
        description="hours of data (s) before a statistical detector may open an event: its "
        "model must have seen one cycle of the daily profile, every hour entered from the one "
        "before and that visit learnt (the hour the data starts in is first entered a day "
        "later: one cycle plus one visit); hard verdicts open at once",
    )
    early_arm_s: float = Field(
        default=3 * 3600.0,
        ge=0,
        description="hours of data (s) before spike and novelty, which need no season, may "
        "open an event; until event_warmup_s only once their excursion has returned (see "
        "early_hold_s)",
    )
    early_hold_s: float = Field(
        default=3600.0,
        ge=0,
        description="an excursion of a series without a season yet that holds longer than "
        "this (s) is a regime change, e.g. a schedule step, not an event",
    )
    early_return: float = Field(
        default=0.25,
        gt=0,
        lt=1,
        description="an excursion has returned once the series is back within this share of "
        "the distance it went from the value before it",
    )

    # commands (issue 18): a change of a writable point's value is a command; what the
    # same device's measured points do in the following settle time is its consequence
    command_settle_s: float = Field(
        default=1800.0,
        ge=0,
        description="an incident of a device's statistical detectors that starts within this "
        "many seconds after one of its writable points (a setpoint, a mode, an enable) "
        "changed value is explained by that command: stored with its cause, no alert",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.z_half <= self.z_zero:
            raise ValueError("z_half must be above z_zero")
        if self.event_close > self.event_open:
            raise ValueError("event_close must not exceed event_open")
        return self
