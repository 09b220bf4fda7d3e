"""The retrofit tests' building: a firmware-sim school whose heating demand drops by 40 % on
the retrofit date, rendered hourly, and the rows the deriver would store for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from firmware_sim import Scenario, load_profiles, render
from peakline_core.storage import Row

REPO = Path(__file__).resolve().parents[3]
START = datetime(2025, 1, 6, tzinfo=UTC)
RETROFIT = START + timedelta(days=120)
END = RETROFIT + timedelta(days=45)
NS = 10**9
HOUR_NS = 3600 * NS


def render_building(retrofit: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hourly (timestamps UTC ns, energy kWh, outdoor temperature C) of the school."""
    physics: dict = {"base_kw": 10.0, "peak_kw": 60.0}
    if retrofit:
        physics["retrofit"] = {"from": RETROFIT.isoformat(), "heating_reduction": 0.4}
    sc = Scenario.model_validate(
        {"seed": 11, "start": START.isoformat(), "physics_step_s": 600, "utc_offset_h": 0,
         "devices": [{"id": "m", "profile": "sdm630", "physics": physics},
                     {"id": "h", "profile": "hvac-controller"}]}
    )  # fmt: skip
    t0, t1 = int(START.timestamp()) * NS, int(END.timestamp()) * NS
    r = render(sc, load_profiles(REPO / "config" / "profiles"), t0, t1, 900)
    hourly_kwh = r.values[("m", "power_total")].reshape(-1, 4).mean(axis=1) / 1000.0
    hourly_temp = r.values[("h", "outdoor_temp")].reshape(-1, 4).mean(axis=1)
    return r.timestamps[::4], hourly_kwh, hourly_temp


def retrofit_rows(ts: np.ndarray, kwh: np.ndarray, temp: np.ndarray) -> list[Row]:
    """Daily energy_1d rows (kWh per UTC day) and hourly outdoor-temperature readings."""
    daily: dict[int, float] = {}  # as the deriver rolls energy up, per UTC day
    for t, e in zip(ts.tolist(), kwh.tolist(), strict=True):
        day = int(t) - int(t) % (86400 * 10**9)
        daily[day] = daily.get(day, 0.0) + float(e)
    rows = [
        Row("energy_1d", {"site": "rt-school", "flow": "import"}, {"kwh": e}, t)
        for t, e in daily.items()
    ]
    tags = {"site": "rt-school", "device": "school-hvac", "point": "outdoor_temp"}
    rows += [
        Row("reading", tags, {"value": float(v)}, int(t)) for t, v in zip(ts, temp, strict=True)
    ]
    return rows


RECORD = {
    "site": "rt-school",
    "date": RETROFIT.date().isoformat(),
    "measures": ["roof insulation", "double glazing"],
    "cost": 180000,
    "currency": "CNY",
}
