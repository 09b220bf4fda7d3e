"""Deterministic synthetic rows for a registry: seeds stores for tests, benchmarks and demos.

Not a simulator (firmware-sim is): just plausible numbers with the storage schema's shape,
so an API can be exercised without the whole pipeline running.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from peakline_api.registry import Registry
from peakline_core.derive.calendar import month_floor
from peakline_core.storage import Row
from peakline_core.storage.schema import (
    ANOMALY_EVENT,
    ANOMALY_SCORE,
    CARBON_INTENSITY,
    EMISSIONS,
    EMISSIONS_1D,
    EMISSIONS_1MO,
    ENERGY,
    ENERGY_1D,
    ENERGY_1H,
    ENERGY_1MO,
    READING,
)
from peakline_core.storage.store import FieldValue

NS = 1_000_000_000


def _wave(i: int, t_ns: int) -> float:
    hour = (t_ns // NS % 86400) / 3600
    return 0.5 + 0.4 * math.sin((hour - 6) / 24 * 2 * math.pi) + 0.05 * math.sin(i + t_ns / 7e11)


def reading_rows(registry: Registry, start_ns: int, end_ns: int, step_s: float) -> Iterator[Row]:
    """One reading per point of every enabled device every `step_s` seconds (good quality)."""
    step = int(step_s * NS)
    t0 = start_ns - start_ns % step
    for i, device in enumerate(d for d in registry.devices.values() if d.enabled):
        for point in registry.points[device.id].values():
            scale = 40_000.0 if point.unit == "W" else 100.0
            for t in range(t0, end_ns, step):
                yield Row(
                    READING,
                    {"site": device.site, "device": device.id, "point": point.name},
                    {"value": round(scale * _wave(i, t), 3), "quality": 0},
                    t,
                )


def report_rows(registry: Registry, start_ns: int, end_ns: int) -> Iterator[Row]:
    """Energy as the deriver stores it (1-minute rows per site meter, hourly, daily and
    monthly roll-ups summed from them), hourly location-based emissions, carbon intensity, and one
    anomaly per site."""
    minute, hour, day = 60 * NS, 3600 * NS, 86400 * NS
    t0 = start_ns - start_ns % hour
    for i, site in enumerate(registry.sites.values()):
        devices = registry.devices_of_site(site.id)
        meter = site.meter or (devices[0].id if devices else "meter")
        hourly: dict[int, float] = {}
        for t in range(t0, end_ns, minute):
            kwh = round(40.0 * _wave(i, t) / 60, 6)
            tags = {"site": site.id, "device": meter, "flow": "import"}
            fields: dict[str, FieldValue] = {
                "kwh": kwh,
                "estimated_kwh": 0.0,
                "suspect_kwh": 0.0,
                "quality": "measured",
            }
            yield Row(ENERGY, tags, fields, t)
            hourly[t - t % hour] = hourly.get(t - t % hour, 0.0) + kwh
        daily: dict[int, tuple[float, float]] = {}
        monthly: dict[int, tuple[float, float]] = {}
        for t, kwh in hourly.items():
            flow = {"site": site.id, "flow": "import"}
            yield Row(ENERGY_1H, flow, {"kwh": kwh, "estimated_kwh": 0.0, "suspect_kwh": 0.0}, t)
            kg = kwh * 0.58
            yield Row(
                EMISSIONS,
                {"site": site.id, "scope": "2", "method": "location"},
                {"kgco2e": kg, "kg_per_kwh": 0.58, "basis": "annual:demo"},
                t,
            )
            e, k = daily.get(t - t % day, (0.0, 0.0))
            daily[t - t % day] = (e + kwh, k + kg)
        for t, (kwh, kg) in daily.items():
            e, k = monthly.get(month_floor(t), (0.0, 0.0))
            monthly[month_floor(t)] = (e + kwh, k + kg)
            yield Row(
                ENERGY_1D,
                {"site": site.id, "flow": "import"},
                {"kwh": kwh, "estimated_kwh": 0.0, "suspect_kwh": 0.0},
                t,
            )
            yield Row(
                EMISSIONS_1D,
                {"site": site.id, "scope": "2", "method": "location"},
                {"kgco2e": kg},
                t,
            )
        for t, (kwh, kg) in monthly.items():
            yield Row(
                ENERGY_1MO,
                {"site": site.id, "flow": "import"},
                {"kwh": kwh, "estimated_kwh": 0.0, "suspect_kwh": 0.0},
                t,
            )
            yield Row(
                EMISSIONS_1MO,
                {"site": site.id, "scope": "2", "method": "location"},
                {"kgco2e": kg},
                t,
            )
        if devices:
            device = devices[0]
            point = next(iter(registry.points[device.id]))
            tags = {"site": site.id, "device": device.id, "point": point}
            yield Row(ANOMALY_SCORE, tags, {"score": 0.93, "detector": "robust_z"}, end_ns - hour)
            yield Row(
                ANOMALY_EVENT,
                {**tags, "kind": "spike"},
                {"event_id": f"ev-{site.id}", "state": "open", "end": 0, "peak_score": 0.93},
                end_ns - hour,
            )
    for region in sorted({s.grid_region for s in registry.sites.values()}):
        for t in range(t0, end_ns, hour):
            yield Row(CARBON_INTENSITY, {"region": region}, {"g_per_kwh": 580.0}, t)
