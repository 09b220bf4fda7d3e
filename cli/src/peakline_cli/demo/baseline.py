"""The demo's retrofit: one site gets a year of metered history before the live days, an
envelope retrofit in the simulator's physics two days ago, and the retrofit recorded, so the
site page and the programme page show measured savings from the M&V code (IPMVP Option C),
as they would for a real city that imported its utility's interval data.

- The year before the history is the site meter's own physics (firmware-sim's `World` on
  5-minute steps, the retrofit included, same scenario seed and weather), written as an
  hourly interval file and imported through the real import path (`peakline_store.importing`:
  plan, commit, `quality: imported`, the deriver rolls the span up on its late-data mark).
- The city's weather for that year (the outdoor temperature the M&V normalises by) is the
  simulator's weather at the same place, stored as hourly readings of the city's outdoor
  sensor, as a weather-service download would be.
- The days after the history's start are the live path's (edge -> broker -> ingest ->
  deriver). Savings are whatever the model finds: nothing here writes a savings figure.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from peakline_core.config import PlatformConfig

if TYPE_CHECKING:
    from firmware_sim.physics.fleet import Chunk
    from firmware_sim.scenario import Scenario
    from firmware_sim.world import Profile
    from peakline_core.storage import Store

NS = 1_000_000_000
HOUR_NS = 3600 * NS
DAY_NS = 24 * HOUR_NS
RETROFIT_METER = "library-meter"
HEATING_REDUCTION = 0.5
"""Roof and wall insulation with new glazing: the building loses half the heat it did."""
MEASURES = ("roof and wall insulation", "double glazing")
RETROFIT_DAYS_AGO = 2
BASELINE_DAYS = 365
TEMPERATURE_POINT = "outdoor_temp"
BASELINE_STEP_S = 300.0


@dataclass(frozen=True, slots=True)
class RetrofitPlan:
    """Where and when: the meter's site, the works' first day (UTC midnight), the imported
    span [import_from_ns, import_to_ns) and the city's outdoor sensor for the weather."""

    site: str
    meter: str
    day: date
    import_from_ns: int
    import_to_ns: int
    weather_device: str | None
    weather_site: str | None


def retrofit_day(history_start: datetime, now: datetime) -> date:
    """The works' first day: `RETROFIT_DAYS_AGO` UTC days before today, but never before the
    first UTC midnight of the live history (the reporting days are the live path's)."""
    first_midnight = (history_start + timedelta(days=1) - timedelta(microseconds=1)).date()
    if history_start.time() == datetime.min.time():
        first_midnight = history_start.date()
    return max(now.date() - timedelta(days=RETROFIT_DAYS_AGO), first_midnight)


def plan_retrofit(
    config: PlatformConfig, history_start: datetime, now: datetime
) -> RetrofitPlan | None:
    """The demo's retrofit, or None when the config has no such meter."""
    meter = config.devices.get(RETROFIT_METER)
    if meter is None or not meter.enabled:
        return None
    day = retrofit_day(history_start, now)
    start_ns = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * NS
    city = config.sites[meter.site].city
    weather = [
        d.id
        for d in sorted(config.devices.values(), key=lambda d: d.id)
        if d.enabled
        and config.sites[d.site].city == city
        and TEMPERATURE_POINT in _point_names(config, d.id)
    ]
    return RetrofitPlan(
        site=meter.site,
        meter=meter.id,
        day=day,
        import_from_ns=start_ns - BASELINE_DAYS * DAY_NS,
        import_to_ns=int(history_start.timestamp()) * NS // HOUR_NS * HOUR_NS,
        weather_device=weather[0] if weather else None,
        weather_site=config.devices[weather[0]].site if weather else None,
    )


def _point_names(config: PlatformConfig, device: str) -> set[str]:
    profile = config.profile_of(config.devices[device])
    points = getattr(profile, "points", None) or getattr(profile, "fields", [])
    return {p.name for p in points}


def with_retrofit(scenario: Scenario, plan: RetrofitPlan) -> Scenario:
    """The scenario with the retrofit in the meter's physics from the works' first day."""
    from firmware_sim.scenario import Scenario

    dumped = scenario.model_dump(by_alias=True)
    when = datetime(plan.day.year, plan.day.month, plan.day.day, tzinfo=UTC)
    for device in dumped["devices"]:
        if device["id"] == plan.meter:
            device["physics"]["retrofit"] = {"from": when, "heating_reduction": HEATING_REDUCTION}
    return Scenario.model_validate(dumped)


F64 = npt.NDArray[np.float64]


def simulate_hours(
    scenario: Scenario,
    profiles: dict[str, Profile],
    meter: str,
    start_ns: int,
    end_ns: int,
    step_s: float = BASELINE_STEP_S,
) -> tuple[npt.NDArray[np.int64], F64, F64]:
    """Hour starts [H] (UTC ns), the meter's hourly energy [H] (kWh) and the outdoor
    temperature at its place [H] (degC, hourly mean) over [start_ns, end_ns), both hour
    aligned: the meter alone (and what it includes) on `step_s` physics steps, so a year
    takes well under a second. Its own noise differs from the live run's; its physics do not."""
    from firmware_sim.scenario import Scenario
    from firmware_sim.world import World

    if start_ns % HOUR_NS or end_ns % HOUR_NS or end_ns <= start_ns:
        raise ValueError("the span must be whole hours")
    if 3600 % step_s:
        raise ValueError("step_s must divide an hour")
    spec = scenario.device(meter)
    keep = {meter, *spec.physics.includes}
    devices = [d.model_dump(by_alias=True) for d in scenario.devices if d.id in keep]
    sub = Scenario.model_validate(
        scenario.model_dump(by_alias=True)
        | {
            "devices": devices,
            "faults": [],
            "start": datetime.fromtimestamp(start_ns / NS, tz=UTC),
            "physics_step_s": step_s,
        }
    )
    world = World(sub, profiles)
    kind, row = world.where[meter]
    powers: list[F64] = []

    def grab(_k0: int, chunks: dict[str, Chunk]) -> None:
        power = chunks[kind].true_power_w
        assert power is not None  # a meter's physics always gives its true power
        powers.append(np.asarray(power[row], dtype=np.float64))

    steps = int((end_ns - start_ns) // int(step_s * NS))
    world.advance(steps - 1, grab)
    per_hour = int(3600 / step_s)
    watts = np.concatenate(powers)[:steps].reshape(-1, per_hour)
    kwh = watts.mean(axis=1) / 1000.0  # a constant power per step: mean W over the hour
    t_s = (start_ns + np.arange(steps, dtype=np.int64) * int(step_s * NS)) / NS
    place = sub.place_index(spec.physics.place)
    temp = world.env.at(t_s).t_out[place].reshape(-1, per_hour).mean(axis=1)
    hours = start_ns + np.arange(watts.shape[0], dtype=np.int64) * HOUR_NS
    return hours, kwh, temp


def interval_file(hours_ns: npt.NDArray[np.int64], kwh: F64) -> bytes:
    """An hourly interval CSV as a utility portal exports it: interval start (UTC, ISO 8601)
    and the interval's kWh."""
    out = io.StringIO()
    out.write("Interval start,Usage (kWh)\n")
    for t, v in zip(hours_ns.tolist(), kwh.tolist(), strict=True):
        stamp = datetime.fromtimestamp(t / NS, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.write(f"{stamp},{v:.3f}\n")
    return out.getvalue().encode()


async def seed_baseline(
    store: Store,
    plan: RetrofitPlan,
    scenario: Scenario,
    profiles: dict[str, Profile],
    retrofits_db: Path,
    now_ns: int,
) -> int:
    """Import the meter's year before the history, store the city's weather for it and
    record the retrofit; returns the energy rows written."""
    from peakline_api.retrofit_store import RetrofitStore
    from peakline_core.importing import IntervalSpec
    from peakline_core.storage import Row
    from peakline_core.storage.schema import READING
    from peakline_store.importing import commit, plan_import

    # in a thread: the backfill polls on this event loop meanwhile
    hours, kwh, temp = await asyncio.to_thread(
        simulate_hours, scenario, profiles, plan.meter, plan.import_from_ns, plan.import_to_ns
    )
    data = await asyncio.to_thread(interval_file, hours, kwh)
    name = f"{plan.meter}-interval-data.csv"
    spec = IntervalSpec(unit="kWh", interval_s=3600)
    imported = await plan_import(
        store, "interval", name, data, plan.site, plan.meter, "import", spec
    )
    written = await commit(store, imported)
    if plan.weather_device is not None and plan.weather_site is not None:
        tags = {"site": plan.weather_site, "device": plan.weather_device,
                "point": TEMPERATURE_POINT}  # fmt: skip
        rows = [
            Row(READING, tags, {"value": round(float(v), 2), "quality": 0}, int(t))
            for t, v in zip(hours.tolist(), temp.tolist(), strict=True)
        ]
        for i in range(0, len(rows), 5000):
            await store.write(rows[i : i + 5000])
    with RetrofitStore(retrofits_db) as retrofits:
        if not retrofits.of_sites([plan.site]):
            retrofits.add(
                plan.site, plan.day, MEASURES, 180_000.0, "CNY",
                "demo: the simulator's heat loss halves from this day", "demo", now_ns,
            )  # fmt: skip
    return int(written)
