"""A rule's `during` window against a real influxd (issue 22): the school's HVAC drawing power
all through a weekend is caught only on the school's local Saturday and Sunday (Asia/Shanghai,
sites.yaml), once, and resolves when its Monday begins even though the unit is still on."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from peakline_api.alerts.evaluator import AlertEvaluator
from peakline_api.alerts.store import AlertStore
from peakline_api.registry import Registry
from peakline_core.alerts.lifecycle import NS_PER_MINUTE
from peakline_core.config import load_config
from peakline_core.storage import Row
from peakline_store.open import open_store
from peakline_testing.configs import copy_example

REPO = Path(__file__).resolve().parents[3]
MIN = NS_PER_MINUTE
HOUR = 60 * MIN
# Friday 2 January 2026, 12:00 UTC = 20:00 in Shanghai; the school's Saturday begins at 16:00 UTC.
FRI = calendar.timegm((2026, 1, 2, 12, 0, 0)) * 1_000_000_000
SAT_LOCAL = calendar.timegm((2026, 1, 2, 16, 0, 0)) * 1_000_000_000
MON_LOCAL = calendar.timegm((2026, 1, 4, 16, 0, 0)) * 1_000_000_000

RULES = """
rules:
  - {id: hvac-weekend, name: School HVAC running at the weekend,
     scope: {city: riverton, site: rt-school, device_kinds: [hvac]},
     condition: {kind: threshold, point: power, op: ">", value: 500, for_minutes: 30},
     during: {days: [sat, sun]}}
"""


@pytest.fixture
def config_root(tmp_path: Path) -> Path:
    return copy_example(tmp_path / "cfg", files={"alerts.yaml": RULES})


async def test_hvac_running_all_weekend_in_the_sites_local_time(
    influx_db: object, config_root: Path, tmp_path: Path
) -> None:
    config = load_config(config_root)
    registry = Registry.from_config(config)
    store = open_store(f"{influx_db.url}?db={influx_db.database}")  # type: ignore[attr-defined]
    tags = {"site": "rt-school", "device": "school-hvac", "point": "power"}
    try:
        with AlertStore(tmp_path / "alerts.db") as db:
            ev = AlertEvaluator(config.alerts, registry, store, db)
            # 3 kW every 5 min from Friday noon UTC to Monday 02:00 Shanghai time.
            end = MON_LOCAL + 2 * HOUR
            await store.write(
                [Row("reading", tags, {"value": 3000.0, "quality": 0}, t)
                 for t in range(FRI - HOUR, end, 5 * MIN)]
            )  # fmt: skip
            # Friday evening in Shanghai (Friday noon in UTC): running, but not the weekend.
            assert await ev.evaluate(FRI) == []
            assert await ev.evaluate(SAT_LOCAL - MIN) == []
            # Saturday 00:30 in Shanghai, still Friday in UTC: opened once, then held.
            done = await ev.evaluate(SAT_LOCAL + 30 * MIN)
            assert [(t.incident.subject, t.kind) for t in done] == [("school-hvac", "opened")]
            for t in range(SAT_LOCAL + HOUR, MON_LOCAL, 6 * HOUR):
                assert await ev.evaluate(t) == []
            # Monday 00:00 in Shanghai (Sunday in UTC): the window ends, the incident resolves.
            done = await ev.evaluate(MON_LOCAL + MIN)
            assert [(t.incident.subject, t.kind) for t in done] == [("school-hvac", "resolved")]
            assert await ev.evaluate(MON_LOCAL + HOUR) == []
    finally:
        await store.aclose()
