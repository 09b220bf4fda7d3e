"""Verified control, pure: command validation, rate and expiry, DR planning and verification."""

from peakline_core.control.errors import CommandExpired, CommandRejected
from peakline_core.control.expiry import (
    DEFAULT_EXPIRES_IN_S,
    MAX_EXPIRES_IN_S,
    MIN_EXPIRES_IN_S,
    check_not_expired,
    expires_at_ns,
)
from peakline_core.control.planning import (
    DrPlan,
    PlannedAction,
    SitePlan,
    plan_event,
    plan_site,
    site_target_kw,
)
from peakline_core.control.rate import ChangeWindow, CommandRate
from peakline_core.control.validation import ValidWrite, check_limits, validate_command
from peakline_core.control.verification import (
    Verification,
    lowest_intensity_window,
    pre_event_baseline,
    resample_mean,
    similar_days_baseline,
    verify,
)

__all__ = [
    "DEFAULT_EXPIRES_IN_S",
    "MAX_EXPIRES_IN_S",
    "MIN_EXPIRES_IN_S",
    "ChangeWindow",
    "CommandExpired",
    "CommandRate",
    "CommandRejected",
    "DrPlan",
    "PlannedAction",
    "SitePlan",
    "ValidWrite",
    "Verification",
    "check_limits",
    "check_not_expired",
    "expires_at_ns",
    "lowest_intensity_window",
    "plan_event",
    "plan_site",
    "pre_event_baseline",
    "resample_mean",
    "similar_days_baseline",
    "site_target_kw",
    "validate_command",
    "verify",
]
