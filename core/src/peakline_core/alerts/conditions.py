"""Rule conditions as pure functions of stored values: firing, clear or hold (undecided).

Inputs are numpy arrays of UTC ns timestamps and values, sorted by time.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from peakline_core.alerts.lifecycle import NS_PER_MINUTE, Observation
from peakline_core.config.alerts import (
    WEEKDAYS,
    CityMonth,
    DailyEmissions,
    DailyEnergy,
    During,
    NoData,
    QuietHours,
    SpoolBacklog,
    Threshold,
)

_OPS = {
    ">": np.greater,
    ">=": np.greater_equal,
    "<": np.less,
    "<=": np.less_equal,
}


def threshold(
    cond: Threshold,
    times_ns: npt.NDArray[np.int64],
    values: npt.NDArray[np.float64],
    now_ns: int,
) -> Observation:
    """Firing when every reading of the last ``for_minutes`` is past the value and the series
    reaches back to the window's start; clear when the latest reading is back past
    ``clear_at`` (hysteresis); hold otherwise (inside the band, or too little data)."""
    if times_ns.size == 0:
        return "hold"
    start = now_ns - int(cond.for_minutes * NS_PER_MINUTE)
    past = _OPS[cond.op](values, cond.value)
    # The reading at or before the window's start says what the value was when it opened.
    first = int(np.searchsorted(times_ns, start, side="right")) - 1
    covered = first >= 0 or cond.for_minutes == 0
    window = past[max(first, 0) :] if cond.for_minutes > 0 else past[-1:]
    if covered and window.size and bool(window.all()):
        return "firing"
    clear_at = cond.value if cond.clear_at is None else cond.clear_at
    back = not bool(_OPS[cond.op](values[-1], clear_at))
    return "clear" if back else "hold"


def no_data(cond: NoData, last_seen_ns: int | None, now_ns: int, since_ns: int) -> Observation:
    """Firing when nothing arrived for ``minutes`` (counting from ``since_ns`` when the
    subject has never reported, e.g. the evaluator's start); clear once data flows again."""
    reference = since_ns if last_seen_ns is None else last_seen_ns
    return "firing" if now_ns - reference >= cond.minutes * NS_PER_MINUTE else "clear"


def daily_energy(cond: DailyEnergy, day_kwh: float | None) -> Observation:
    """A day's energy over the baseline by more than ``over_percent``; clear at or under the
    baseline itself (the band in between holds)."""
    if day_kwh is None:
        return "hold"
    if day_kwh > cond.baseline_kwh * (1 + cond.over_percent / 100):
        return "firing"
    return "clear" if day_kwh <= cond.baseline_kwh else "hold"


def daily_emissions(cond: DailyEmissions, day_kgco2e: float | None) -> Observation:
    """A day's emissions over the baseline by more than ``over_percent``; clear at or under the
    baseline itself (the band in between holds)."""
    if day_kgco2e is None:
        return "hold"
    if day_kgco2e > cond.baseline_kgco2e * (1 + cond.over_percent / 100):
        return "firing"
    return "clear" if day_kgco2e <= cond.baseline_kgco2e else "hold"


def city_month(cond: CityMonth, actual_kgco2e: float, allowed_kgco2e: float) -> Observation:
    """A city's like-for-like verdict over a month (its compared sites' emissions against
    what the path allows them): firing when over the allowance by more than
    ``tolerance_percent``; clear when back on track (at or under it)."""
    if actual_kgco2e > allowed_kgco2e * (1 + cond.tolerance_percent / 100):
        return "firing"
    return "clear" if actual_kgco2e <= allowed_kgco2e else "hold"


def spool_backlog(cond: SpoolBacklog, readings: int, oldest_age_s: float) -> Observation:
    """Firing past either limit; clear once under half of every limit given (hysteresis: a
    spool that drains slowly does not flap); hold in between."""
    over = (cond.readings is not None and readings > cond.readings) or (
        cond.oldest_minutes is not None and oldest_age_s > cond.oldest_minutes * 60
    )
    if over:
        return "firing"
    under = (cond.readings is None or readings <= cond.readings / 2) and (
        cond.oldest_minutes is None or oldest_age_s <= cond.oldest_minutes * 30
    )
    return "clear" if under else "hold"


def in_schedule(during: During | None, timezone: str | None, now_ns: int) -> bool:
    """True when a rule's `during` window covers `now_ns` in `timezone` (the subject's site's
    zone; the window's own, else UTC, when None). A window spanning midnight counts its
    early hours to the day it began (Sunday 22:00 to 06:00 covers Monday 03:00)."""
    if during is None:
        return True
    zone = ZoneInfo(timezone or during.timezone or "UTC")
    local = dt.datetime.fromtimestamp(now_ns / 1e9, zone)
    t, day = local.time(), WEEKDAYS[local.weekday()]
    previous = WEEKDAYS[(local.weekday() - 1) % 7]
    if during.start == during.end:
        return day in during.days
    if during.start < during.end:
        return day in during.days and during.start <= t < during.end
    return (day in during.days and t >= during.start) or (
        previous in during.days and t < during.end
    )


def in_quiet_hours(quiet: QuietHours | None, now_ns: int) -> bool:
    """True inside the local quiet window (which may span midnight)."""
    if quiet is None:
        return False
    offset = dt.timedelta(hours=quiet.utc_offset_hours)
    local = (dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC) + offset).time()
    if quiet.start <= quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end


def quiet_until(quiet: QuietHours | None, now_ns: int) -> int:
    """`now_ns` outside quiet hours, else the end of the quiet window (UTC ns)."""
    if quiet is None or not in_quiet_hours(quiet, now_ns):
        return now_ns
    offset = dt.timedelta(hours=quiet.utc_offset_hours)
    local = dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC) + offset
    end = local.replace(hour=quiet.end.hour, minute=quiet.end.minute, second=0, microsecond=0)
    if end <= local:
        end += dt.timedelta(days=1)
    return int((end - offset).timestamp()) * 1_000_000_000
