"""alerts.yaml: alert rules and the channels that carry their notifications (issue 22).

Optional: a programme without the file raises no alerts. A rule has one condition (picked by
its ``kind``), a scope (city, district, site or device), a severity, channels and a repeat
interval; a channel belongs to one city and speaks one language.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, model_validator

from peakline_core.wire.ids import ID_PATTERN, POINT_PATTERN

Id = Annotated[str, Field(pattern=ID_PATTERN)]
Point = Annotated[str, Field(pattern=POINT_PATTERN)]
Severity = Literal["info", "warning", "critical"]
Language = Literal["en", "zh-CN"]
CommandState = Literal["failed", "expired", "rejected"]
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Threshold(Strict):
    """A point above (or below) a value for a duration, e.g. supply temperature > 30 °C for
    10 min. It clears when the value is back past ``clear_at`` (hysteresis)."""

    kind: Literal["threshold"]
    point: Point
    op: Literal[">", ">=", "<", "<="]
    value: float
    for_minutes: float = Field(default=0, ge=0, description="how long the value must stay past")
    clear_at: float | None = Field(
        default=None, description="value past which the condition clears; default: value"
    )

    @model_validator(mode="after")
    def _hysteresis_on_the_safe_side(self) -> Self:
        if self.clear_at is None:
            return self
        above = self.op in (">", ">=")
        if (above and self.clear_at > self.value) or (not above and self.clear_at < self.value):
            side = "at or below" if above else "at or above"
            raise ValueError(f"clear_at must be {side} value ({self.value}) for op {self.op!r}")
        return self


class NoData(Strict):
    """No reading from a device (or from any device in scope) for N minutes: meter silent or
    gateway offline."""

    kind: Literal["no_data"]
    minutes: float = Field(gt=0)


class AnomalyRule(Strict):
    """An anomaly event of a kind (any kind when empty) with a score at or above min_score."""

    kind: Literal["anomaly"]
    event_kinds: list[str] = Field(default_factory=list, description="empty: every kind")
    min_score: float = Field(default=0.0, ge=0, le=1, description="peak anomaly score, 0..1")


class CommandOutcome(Strict):
    """A control command that failed or expired."""

    kind: Literal["command"]
    outcomes: list[CommandState] = Field(
        default_factory=lambda: list[CommandState](["failed", "expired"]), min_length=1
    )


class DailyEnergy(Strict):
    """A site's daily energy (energy_1d) over its baseline by more than ``over_percent``."""

    kind: Literal["daily_energy"]
    baseline_kwh: float = Field(gt=0, description="expected energy a day, kWh")
    over_percent: float = Field(default=20.0, gt=0, description="e.g. 20 for 20 % over")


class DailyEmissions(Strict):
    """A site's daily emissions over its baseline by more than ``over_percent``: the deriver's
    ``emissions_1d`` roll-up (kgCO2e, the method named here), the figure the reports show."""

    kind: Literal["daily_emissions"]
    baseline_kgco2e: float = Field(gt=0, description="expected emissions a day, kgCO2e")
    over_percent: float = Field(default=20.0, gt=0, description="e.g. 20 for 20 % over")
    method: Literal["location", "market"] = "location"


class CityMonth(Strict):
    """A city's last complete month over its target trajectory, judged like for like as the
    programme page and the overview judge it: the same sites against the same dates last year
    times the path's ratio (programme.yaml `cities[].target`), else the sites with their own
    targets pro rata; no verdict (and no incident) otherwise. ``tolerance_percent`` over the
    allowance before it fires."""

    kind: Literal["city_month"]
    tolerance_percent: float = Field(default=0.0, ge=0, description="e.g. 5 for 5 % over cap")


class SpoolBacklog(Strict):
    """A gateway's spool holding readings it could not send: more than ``readings`` waiting, or
    the oldest waiting longer than ``oldest_minutes`` (the agent reports both on its agent
    topic). It clears once the spool is back under half of each limit (hysteresis)."""

    kind: Literal["spool_backlog"]
    readings: int | None = Field(default=None, gt=0, description="readings waiting")
    oldest_minutes: float | None = Field(default=None, gt=0, description="age of the oldest")

    @model_validator(mode="after")
    def _one_limit_at_least(self) -> Self:
        if self.readings is None and self.oldest_minutes is None:
            raise ValueError("give readings, oldest_minutes or both")
        return self


class RefrigerantLeak(Strict):
    """A refrigerant asset in scope (inventory.yaml, with the service records posted through
    the API) topped up in the current calendar year by more than ``share`` of its charge
    (default inventory.yaml ``leak_threshold``): a leaking unit, by the same test as the
    inventory's flag. It clears in a new year (top-ups count per year) or when the asset
    leaves the inventory."""

    kind: Literal["refrigerant_leak"]
    share: float | None = Field(
        default=None, gt=0, le=1, description="share of the charge; default leak_threshold"
    )


Condition = Annotated[
    Threshold
    | NoData
    | AnomalyRule
    | CommandOutcome
    | DailyEnergy
    | DailyEmissions
    | CityMonth
    | SpoolBacklog
    | RefrigerantLeak,
    Field(discriminator="kind"),
]


class Scope(Strict):
    """What a rule watches: a whole city, a district, a site or one device (narrowest wins),
    optionally only devices of some kinds (their profile's `kind`: meter, hvac, ...) or one
    edge agent (gateway)."""

    city: Id
    district: Id | None = None
    site: Id | None = None
    device: Id | None = None
    device_kinds: list[str] = Field(
        default_factory=list, description="only devices whose profile has one of these kinds"
    )
    agent: Id | None = Field(default=None, description="one edge agent (gateway)")


class QuietHours(Strict):
    """Local hours in which notifications below critical wait until the end of the window."""

    start: dt.time
    end: dt.time
    utc_offset_hours: float = Field(default=8.0, ge=-12, le=14, description="China: 8")


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class During(Strict):
    """When a rule watches, in local time: on `days`, from `start` to `end` (which may span
    midnight: its early hours count to the day it began; start == end is the whole day).
    Local to the subject's site (sites.yaml `timezone`), else `timezone`. Outside it the
    condition counts as clear: an incident opened inside resolves when the window ends."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS), min_length=1)
    start: dt.time = dt.time(0, 0)
    end: dt.time = dt.time(0, 0)
    timezone: str | None = Field(
        default=None, description="IANA zone for subjects without a site (a city, a gateway)"
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if len(set(self.days)) != len(self.days):
            raise ValueError("a day is listed twice")
        if self.timezone is not None:
            try:
                ZoneInfo(self.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown IANA timezone {self.timezone!r}") from None
        return self


class Rule(Strict):
    id: Id
    name: str = Field(min_length=1)
    scope: Scope
    condition: Condition
    severity: Severity = "warning"
    channels: list[Id] = Field(default_factory=list, description="channel ids of the scope's city")
    repeat_minutes: float | None = Field(
        default=None, gt=0, description="re-notify an open, unacknowledged incident this often"
    )
    quiet_hours: QuietHours | None = None
    during: During | None = Field(
        default=None, description="watch only on these local days and hours (e.g. weekends)"
    )
    enabled: bool = True


class Digest(Strict):
    """Collect this channel's notifications of rules at or below `max_severity` and send them
    as one message per `minutes` (on the clock: every hour on the hour for 60) listing what
    opened, was acknowledged, reminded or resolved. More severe rules are sent at once."""

    minutes: float = Field(gt=0, le=1440, description="period, minutes (60: hourly)")
    max_severity: Severity = "info"


class WebhookChannel(Strict):
    """A webhook: generic JSON (HMAC-SHA256 signed) or a WeCom / DingTalk / Feishu group robot."""

    id: Id
    city: Id
    kind: Literal["webhook", "wecom", "dingtalk", "feishu"]
    url: str = Field(pattern=r"^https?://")
    secret_env: str | None = Field(
        default=None,
        pattern=r"^[A-Z_][A-Z0-9_]*$",
        description="environment variable holding the signing secret (never the secret itself)",
    )
    language: Language = "zh-CN"
    min_severity: Severity = "info"
    digest: Digest | None = None


class EmailChannel(Strict):
    """Email over SMTP (server set in the API settings), to the city's recipients."""

    id: Id
    city: Id
    kind: Literal["email"]
    recipients: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1)
    language: Language = "zh-CN"
    min_severity: Severity = "info"
    digest: Digest | None = None


Channel = Annotated[WebhookChannel | EmailChannel, Field(discriminator="kind")]


class AlertsFile(BaseModel):
    """alerts.yaml: notification channels per city and the rules that use them."""

    model_config = ConfigDict(extra="forbid")
    channels: list[Channel] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _empty_file_has_no_rules(cls, data: object) -> object:
        return {} if data is None else data
