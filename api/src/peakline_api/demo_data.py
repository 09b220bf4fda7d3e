"""Deterministic synthetic rows for a registry: seeds stores for tests, benchmarks and demos.

Not a simulator (firmware-sim is): just plausible numbers with the storage schema's shape,
so an API can be exercised without the whole pipeline running.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from peakline_api.registry import Registry
from peakline_core.storage import Row
from peakline_core.storage.schema import (
    ANOMALY_EVENT,
    ANOMALY_SCORE,
    CARBON_INTENSITY,
    EMISSIONS,
    ENERGY,
    READING,
)

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
    """Hourly energy, emissions and carbon intensity, plus one anomaly per site."""
    hour = 3600 * NS
    t0 = start_ns - start_ns % hour
    for i, site in enumerate(registry.sites.values()):
        for t in range(t0, end_ns, hour):
            kwh = round(40.0 * _wave(i, t), 3)
            yield Row(ENERGY, {"site": site.id, "flow": "import"}, {"kwh": kwh}, t)
            for method, factor in (("location", 0.58), ("market", 0.41)):
                yield Row(
                    EMISSIONS,
                    {"site": site.id, "scope": "2", "method": method},
                    {"kgco2e": round(kwh * factor, 4)},
                    t,
                )
        devices = registry.devices_of_site(site.id)
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
