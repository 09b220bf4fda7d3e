"""A store with live-derived data for the archive tests: readings of two cities' meters
(counters, power, a text point, a spike), an imported interval file, then the deriver as
ingest runs it (energy, roll-ups, emissions, anomaly scores and events); a command in the
ledger and an alert incident in the API's databases."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

from peakline_api.alerts.store import AlertStore
from peakline_api.archive import AppDatabases
from peakline_api.ledger import CommandLedger
from peakline_api.refrigerant_store import RefrigerantStore
from peakline_api.registry import Registry
from peakline_api.retrofit_store import RetrofitStore
from peakline_core.alerts import Incident
from peakline_core.config import PlatformConfig
from peakline_core.config.alerts import Rule
from peakline_core.importing import IntervalSpec
from peakline_core.storage import Row, Store
from peakline_core.storage.schema import READING
from peakline_core.wire import Command, CommandState, Topics
from peakline_ingest.derive import Deriver, DeriveSettings
from peakline_ingest.processors_anomaly import AnomalyProcessor
from peakline_store.importing import commit, plan_import

REPO = Path(__file__).resolve().parents[3]
S = 1_000_000_000
MIN = 60 * S
HOUR = 60 * MIN
START = 1_764_504_000 * S  # 2025-11-30T12:00Z: the live day crosses into December
END = START + 24 * 3600 * S
STEP = 2 * MIN
CITY = "riverton"
OTHER = "lakeside"
KEPT = {"power", "power_total", "status", "co2"}
SPIKE_DEVICE, SPIKE_POINT = "feeder7-meter", "power_total"


def readings(registry: Registry) -> list[Row]:
    """Every enabled device of the two cities: its counters (rising), a few power and text
    points; a 40-minute power spike on one meter for the detectors to find."""
    rows = []
    cities = {CITY, OTHER}
    devices = [
        d for d in registry.devices.values() if d.enabled and registry.sites[d.site].city in cities
    ]
    for i, device in enumerate(devices):
        for point in registry.points[device.id].values():
            if not (point.counter or point.name in KEPT):
                continue
            tags = {"site": device.site, "device": device.id, "point": point.name}
            total = 1000.0 + i
            for k, t in enumerate(range(START, END, STEP)):
                wave = 1.0 + 0.5 * math.sin(k / 30 + i)
                if point.counter:
                    total += 0.05 * wave
                    fields: dict[str, float | int | str] = {"value": round(total, 4), "quality": 0}
                elif point.name == "status":
                    fields = {"text": "charging" if k % 7 else "idle", "quality": 0}
                else:
                    value = 20_000.0 * wave
                    if device.id == SPIKE_DEVICE and point.name == SPIKE_POINT and 500 <= k < 520:
                        value *= 8
                    fields = {"value": round(value, 3), "quality": 0}
                rows.append(Row(READING, tags, fields, t))
    return rows


async def seed_store(store: Store, config: PlatformConfig) -> None:
    registry = Registry.from_config(config)
    rows = readings(registry)
    for i in range(0, len(rows), 20_000):
        await store.write(rows[i : i + 20_000])
    plan = await plan_import(
        store,
        "interval",
        "utility_15min_dst.csv",
        (REPO / "tests/cases/import/utility_15min_dst.csv").read_bytes(),
        "rt-library",
        "library-meter",
        "import",
        IntervalSpec(timezone="America/New_York"),
    )
    assert await commit(store, plan, clock_ns=lambda: START + MIN) > 0
    deriver = Deriver.from_config(
        store, config, DeriveSettings(), anomaly=AnomalyProcessor(Topics("pl"))
    )
    deriver.start_at(START)
    await deriver.step_to(END + 5 * MIN)


def _dr_event(event_id: str, site: str, state: str, start: int, end: int) -> dict[str, Any]:
    """A DR event's stored body as `DemandResponse.create` makes it (one setpoint action)."""
    return {
        "id": event_id, "name": f"peak {event_id}", "sites": [site], "reduce_kw": 10.0,
        "reduce_pct": None, "start_ns": start, "end_ns": end, "marginal_g_per_kwh": 450.0,
        "state": state, "created_by": "operator_rt", "created_ns": start - 3600 * S,
        "plan": [{
            "site": site, "target_kw": 10.0, "expected_kw": 12.0, "shortfall_kw": 0.0,
            "skipped": [],
            "actions": [{"device": "school-hvac", "point": "setpoint", "kind": "setpoint_offset",
                         "value": 23.5, "previous": 21.5, "expected_kw": 12.0}],
        }],
        "commands": [{"id": f"{event_id}-cmd", "device": "school-hvac", "point": "setpoint"}]
        if state != "scheduled" else [],
    }  # fmt: skip


def seed_databases(dbs: AppDatabases) -> None:
    """Each city's command, DR event (completed, with its command; riverton also one still
    scheduled), incident with notifications (one sent, one given up), retrofit and
    refrigerant service record; riverton also an API-made alert rule."""
    assert dbs.ledger is not None and dbs.alerts is not None
    assert dbs.retrofits is not None and dbs.refrigerants is not None
    with CommandLedger(str(dbs.ledger) if isinstance(dbs.ledger, Path) else dbs.ledger) as ledger:
        for n, (site, device) in enumerate(
            [("rt-school", "school-hvac"), ("lk-townhall", "townhall-meter")]
        ):
            cmd = Command(
                id=f"cmd-{n}", site=site, device=device, point="setpoint", value=21.5,
                issued_at=START + 3600 * S, expires_at=START + 3660 * S, issuer="operator_rt",
            )  # fmt: skip
            ledger.record(cmd, CommandState.ACCEPTED, None, START + 3600 * S)
            ledger.transition(cmd.id, CommandState.APPLIED, START + 3610 * S, source="edge:a1")
        for city, site in ((CITY, "rt-school"), (OTHER, "lk-townhall")):
            event = _dr_event(f"dr-{city}", site, "completed", START + 4 * HOUR, START + 5 * HOUR)
            ledger.put_event(event["id"], event["created_ns"], event)
            cmd = Command(
                id=f"dr-{city}-cmd", site=site, device="school-hvac", point="setpoint",
                value=23.5, issued_at=START + 4 * HOUR, expires_at=START + 4 * HOUR + 60 * S,
                issuer="operator_rt", origin=f"dr:dr-{city}", revert_after_s=3600.0,
            )  # fmt: skip
            ledger.record(cmd, CommandState.ACCEPTED, None, START + 4 * HOUR)
            ledger.transition(cmd.id, CommandState.SENT, START + 4 * HOUR + S, source="api")
            applied = START + 4 * HOUR + 2 * S
            ledger.transition(cmd.id, CommandState.APPLIED, applied, source="edge:a1")
        later = _dr_event("dr-later", "rt-school", "scheduled", END + 2 * HOUR, END + 3 * HOUR)
        ledger.put_event(later["id"], START + 6 * HOUR, later)
    with AlertStore(dbs.alerts) as alerts:
        for city, site in ((CITY, "rt-school"), (OTHER, "lk-townhall")):
            opened = START + 7200 * S
            alerts.save(
                Incident(
                    id=f"inc-{city}", rule="hvac-weekend", subject=site, city=city, site=site,
                    severity="warning", state="open", opened_ns=opened,
                    summary={"message": "HVAC running"},
                ),
                [(f"inc-{city}:opened", channel, "opened", opened, opened)
                 for channel in (f"{city}-ops-wecom", f"{city}-ops-mail")],
            )  # fmt: skip
            alerts.mark_sent(f"inc-{city}:opened", f"{city}-ops-wecom", opened + S)
            alerts.mark_failed(f"inc-{city}:opened", f"{city}-ops-mail", "550 no such user", None)
        rule = Rule.model_validate(
            {"id": "rt-api-rule", "name": "school load", "enabled": False,
             "scope": {"city": CITY, "device": "school-meter"}, "severity": "warning",
             "condition": {"kind": "threshold", "point": "power_total", "op": ">",
                           "value": 90_000, "for_minutes": 10},
             "channels": ["riverton-ops-mail"]}
        )  # fmt: skip
        alerts.put_rule(rule, "operator_rt", START, create=True)
    with RetrofitStore(dbs.retrofits) as retrofits:
        for site in ("rt-school", "lk-townhall"):
            retrofits.add(site, date(2025, 6, 1), ["LED lighting"], 12_000.0, "EUR", "",
                          "operator_rt", START)  # fmt: skip
    with RefrigerantStore(dbs.refrigerants) as refrigerants:
        refrigerants.add("office-chiller-1", date(2025, 11, 30), "top_up", 4.5, "", "op", START)
