"""The `refrigerant_leak` rule (issue 26's leaking unit as an alert): an asset topped up this
year past the share of its charge opens one incident, with what was topped up in the message
in both languages; a new year clears it. The example office chiller (300 kg R-410A, 18 + 12 kg
topped up in 2026 in inventory.yaml) sits exactly at the 10 % threshold until a top-up is
posted through the API's service records (here the evaluator's `refrigerants` source)."""

from __future__ import annotations

import calendar
import datetime as dt
from pathlib import Path

from peakline_api.alerts.evaluator import AlertEvaluator
from peakline_api.alerts.store import AlertStore
from peakline_api.registry import Registry
from peakline_core.alerts.messages import detail
from peakline_core.config import load_config
from peakline_core.config.inventory import ServiceRecord
from peakline_testing.configs import copy_example
from tests.unit.api.api_fakes import MemoryStore

REPO = Path(__file__).resolve().parents[3]
DEC_2026 = calendar.timegm((2026, 12, 4, 8, 0, 0)) * 10**9
JAN_2027 = calendar.timegm((2027, 1, 2, 8, 0, 0)) * 10**9
RULES = """
rules:
  - {id: leak, name: Refrigerant leak, scope: {city: riverton},
     condition: {kind: refrigerant_leak}, severity: warning}
  - {id: leak-school, name: School leak at 1 %, scope: {city: riverton, site: rt-school},
     condition: {kind: refrigerant_leak, share: 0.01}}
"""


async def test_a_unit_topped_up_past_its_share_opens_one_incident(tmp_path: Path) -> None:
    root = tmp_path / "cfg"
    copy_example(root, files={"alerts.yaml": RULES})
    config = load_config(root)
    chiller = next(a for a in config.inventory.refrigerant_assets if a.id == "office-chiller-1")
    posted: list[ServiceRecord] = []

    def assets() -> list:
        return [
            a.model_copy(update={"service": [*a.service, *posted]}) if a.id == chiller.id else a
            for a in config.inventory.refrigerant_assets
        ]

    with AlertStore(tmp_path / "alerts.db") as db:
        ev = AlertEvaluator(
            config.alerts, Registry.from_config(config), MemoryStore(), db, refrigerants=assets
        )

        def live(rule: str) -> list[tuple[str, str]]:
            return sorted((i.subject, i.state) for i in db.search(["riverton"]) if i.rule == rule)

        await ev.evaluate(DEC_2026)
        assert live("leak") == []  # 30 kg of 300: at 10 %, not past it
        posted.append(ServiceRecord(date=dt.date(2026, 11, 20), kind="top_up", kg=5.0))
        await ev.evaluate(DEC_2026 + 60 * 10**9)
        await ev.evaluate(DEC_2026 + 120 * 10**9)
        assert live("leak") == [("office-chiller-1", "open")]  # once, however many passes
        [incident] = [i for i in db.search(["riverton"]) if i.rule == "leak"]
        assert incident.site == "rt-office"
        assert detail(incident.summary, "en") == (
            "office-chiller-1 (R-410A, 300 kg charge) topped up 35 kg in 2026, over 10 % "
            "of its charge: a likely leak, have it repaired"
        )
        assert "已补充 35 kg，超过充注量的 10%" in detail(incident.summary, "zh-CN")
        # the school rule's scope holds only the school's assets
        assert {s for s, _ in live("leak-school")} <= {
            a.id for a in config.inventory.refrigerant_assets if a.site == "rt-school"
        }
        await ev.evaluate(JAN_2027)  # a new year: nothing topped up yet
        assert live("leak") == [("office-chiller-1", "resolved")]
