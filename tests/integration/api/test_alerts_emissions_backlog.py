"""The rule kinds added second (issue 22) against a real influxd: a site's daily emissions from
the deriver's `emissions_1d` roll-up, a city's month against its target trajectory computed as
the programme page computes it, a gateway's spool backlog, and a scope by device kind."""

from __future__ import annotations

import calendar
import shutil
from pathlib import Path

import pytest

from peakline_api.alerts.evaluator import AlertEvaluator
from peakline_api.alerts.store import AlertStore
from peakline_api.live import AgentSpool
from peakline_api.registry import Registry
from peakline_core.alerts.lifecycle import NS_PER_MINUTE
from peakline_core.config import load_config
from peakline_core.emissions import track
from peakline_core.storage import Row
from peakline_ingest.store.open import open_store

REPO = Path(__file__).resolve().parents[3]
MIN = NS_PER_MINUTE
DAY = 1440 * MIN
T0 = calendar.timegm((2026, 1, 5, 2, 0, 0)) * 1_000_000_000
DEC1 = calendar.timegm((2025, 12, 1, 0, 0, 0)) * 1_000_000_000
JAN1 = calendar.timegm((2026, 1, 1, 0, 0, 0)) * 1_000_000_000

RULES = """
rules:
  - {id: co2, name: School emissions, scope: {city: riverton, site: rt-school},
     condition: {kind: daily_emissions, baseline_kgco2e: 500, over_percent: 20}}
  - {id: path, name: Off trajectory, scope: {city: riverton},
     condition: {kind: city_month, tolerance_percent: 5}}
  - {id: backlog, name: Gateway backlog, scope: {city: riverton},
     condition: {kind: spool_backlog, readings: 1000, oldest_minutes: 30}}
  - {id: hvac-silent, name: HVAC silent, scope: {city: riverton, device_kinds: [hvac]},
     condition: {kind: no_data, minutes: 30}}
"""


def _co2(day_start: int, kg: float, method: str = "location") -> Row:
    tags = {"site": "rt-school", "scope": "2", "method": method}
    return Row("emissions_1d", tags, {"kgco2e": kg}, day_start)


def _month(kwh: float) -> Row:
    return Row(
        "energy_1mo",
        {"site": "rt-school", "flow": "import"},
        {"kwh": kwh, "estimated_kwh": 0.0, "suspect_kwh": 0.0},
        DEC1,
    )


@pytest.fixture
def config_root(tmp_path: Path) -> Path:
    root = tmp_path / "cfg"
    shutil.copytree(REPO / "config", root)
    (root / "alerts.yaml").write_text(RULES)
    return root


async def test_emissions_trajectory_backlog_and_device_kinds(
    influx_db: object, config_root: Path, tmp_path: Path
) -> None:
    config = load_config(config_root)
    registry = Registry.from_config(config)
    store = open_store(f"{influx_db.url}?db={influx_db.database}")  # type: ignore[attr-defined]
    spools: dict[str, AgentSpool] = {}
    try:
        with AlertStore(tmp_path / "alerts.db") as db:
            ev = AlertEvaluator(config.alerts, registry, store, db, spool=lambda: spools)
            assert ev.devices_in(config.alerts.rules[3]) == ["office-hvac", "school-hvac"]

            def states(rule: str) -> list[tuple[str, str]]:
                return sorted(
                    (i.subject, i.state) for i in db.search(["riverton"]) if i.rule == rule
                )

            yesterday = (T0 // DAY - 1) * DAY
            # 650 kgCO2e location-based is 30 % over 500; the market-based row is ignored.
            # December's grid imports: 2e9 kWh is far past the city's cap for 2025.
            await store.write(
                [_co2(yesterday, 650.0), _co2(yesterday, 10.0, "market"), _month(2e9)]
            )
            spools["gw-oldtown"] = AgentSpool(1500, 120.0, T0)
            done = await ev.evaluate(T0)
            assert sorted((t.incident.rule, t.incident.subject, t.kind) for t in done) == [
                ("backlog", "gw-oldtown", "opened"),
                ("co2", "rt-school", "opened"),
                ("path", "riverton", "opened"),
            ]
            by_rule = {i.rule: i for i in db.search(["riverton"], state="open")}
            assert by_rule["co2"].summary["kgco2e"] == 650.0
            assert by_rule["co2"].summary["over_percent"] == 30.0
            # The programme page's figures: kWh x the site's location factor for 2025, a
            # December's share of 2025, the 2025 cap of Riverton's trajectory.
            factor = config.factor_book().lookup("CN-EAST", "location", 2025).value
            kg = 2e9 * factor
            status = track(
                config.programme.cities[0].target, 2025, kg, (JAN1 - DEC1) / 1e9 / 86400 / 365
            )  # type: ignore[arg-type]
            path = by_rule["path"].summary
            assert path["month"] == "2025-12" and path["kgco2e"] == round(kg, 1)
            assert path["projected_kgco2e"] == round(status.projected_kgco2e, 1)
            assert path["cap_kgco2e"] == round(status.target_kgco2e, 1)
            assert by_rule["backlog"].summary["readings"] == 1500

            # The spool drains to 700 (under the limit, not under half): holds; an agent that
            # stops reporting holds too (no-data rules cover silence).
            spools["gw-oldtown"] = AgentSpool(700, 10.0, T0 + MIN)
            assert await ev.evaluate(T0 + MIN) == []
            spools.clear()
            assert await ev.evaluate(T0 + 2 * MIN) == []
            spools["gw-oldtown"] = AgentSpool(0, 0.0, T0 + 3 * MIN)
            done = await ev.evaluate(T0 + 3 * MIN)
            assert [(t.incident.rule, t.kind) for t in done] == [("backlog", "resolved")]

            # Yesterday's emissions at baseline and December revised down to on-track (a
            # late correction): both resolve. Only the HVAC controllers (kind hvac) have been
            # silent for 30 min since the evaluator started: the meters are out of scope.
            await store.write([_co2(yesterday, 480.0), _month(1e8)])
            done = await ev.evaluate(T0 + 31 * MIN)
            assert sorted((t.incident.rule, t.incident.subject, t.kind) for t in done) == [
                ("co2", "rt-school", "resolved"),
                ("hvac-silent", "office-hvac", "opened"),
                ("hvac-silent", "school-hvac", "opened"),
                ("path", "riverton", "resolved"),
            ]
            assert states("hvac-silent") == [("office-hvac", "open"), ("school-hvac", "open")]
    finally:
        await store.aclose()
