"""Each evaluated condition kind against a real influxd (issue 22): no data, anomaly events,
daily energy over baseline, a failed command (real ledger); the incident opens once and
resolves when the data says so."""

from __future__ import annotations

import calendar
import shutil
from pathlib import Path

from peakline_api.alerts.evaluator import AlertEvaluator
from peakline_api.alerts.store import AlertStore
from peakline_api.ledger import CommandLedger
from peakline_api.registry import Registry
from peakline_core.alerts.lifecycle import NS_PER_MINUTE
from peakline_core.config import load_config
from peakline_core.storage import Row
from peakline_core.wire import Command, CommandState
from peakline_store.open import open_store

CASES = Path(__file__).resolve().parents[2] / "cases" / "config"
MIN = NS_PER_MINUTE
DAY = 1440 * MIN
T0 = calendar.timegm((2026, 1, 5, 2, 0, 0)) * 1_000_000_000

RULES = """
rules:
  - {id: silent, name: Meter silent, scope: {city: c1, site: s1},
     condition: {kind: no_data, minutes: 30}}
  - {id: odd, name: Anomaly, scope: {city: c1}, condition: {kind: anomaly, min_score: 0.8}}
  - {id: heavy, name: Over baseline, scope: {city: c1, site: s1},
     condition: {kind: daily_energy, baseline_kwh: 100, over_percent: 20}}
"""


def _reading(ts: int) -> Row:
    return Row(
        "reading",
        {"site": "s1", "device": "m1", "point": "power"},
        {"value": 1.0, "quality": 0},
        ts,
    )


def _event(start: int, end: int, score: float) -> Row:
    return Row(
        "anomaly_event",
        {"site": "s1", "device": "m1", "point": "power", "kind": "spike"},
        {"event_id": f"e{start}", "state": "open" if end == 0 else "closed", "end": end,
         "peak_score": score},
        start,
    )  # fmt: skip


def _day(day_start: int, kwh: float) -> Row:
    return Row(
        "energy_1d",
        {"site": "s1", "flow": "import"},
        {"kwh": kwh, "estimated_kwh": 0.0, "suspect_kwh": 0.0},
        day_start,
    )


async def test_no_data_anomaly_and_daily_energy(influx_db: object, tmp_path: Path) -> None:
    root = tmp_path / "cfg"
    shutil.copytree(CASES / "_base", root)
    (root / "alerts.yaml").write_text(RULES)
    config = load_config(root)
    store = open_store(f"{influx_db.url}?db={influx_db.database}")  # type: ignore[attr-defined]
    try:
        with AlertStore(tmp_path / "alerts.db") as db:
            ev = AlertEvaluator(config.alerts, Registry.from_config(config), store, db)

            def live(rule: str) -> list[str]:
                return [i.state for i in db.search(["c1"]) if i.rule == rule]

            yesterday = (T0 // DAY - 1) * DAY
            await store.write(
                [_reading(T0 - 40 * MIN), _event(T0 - 5 * MIN, 0, 0.95), _day(yesterday, 130.0)]
            )
            done = await ev.evaluate(T0)
            assert sorted((t.incident.rule, t.kind) for t in done) == [
                ("heavy", "opened"),
                ("odd", "opened"),
                ("silent", "opened"),
            ]
            heavy = db.search(["c1"], state="open")
            assert {i.subject for i in heavy} == {"m1", "s1"}
            assert next(i for i in heavy if i.rule == "heavy").summary["kwh"] == 130.0
            assert await ev.evaluate(T0 + MIN) == []  # still true: nothing new

            # Data flows again, the event closes, and today (the next day) is under baseline.
            await store.write(
                [
                    _reading(T0 + 2 * MIN),
                    _event(T0 - 5 * MIN, T0 + MIN, 0.95),
                    _day(yesterday + DAY, 90.0),
                ]
            )
            done = await ev.evaluate(T0 + 3 * MIN)
            assert sorted((t.incident.rule, t.kind) for t in done) == [
                ("odd", "resolved"),
                ("silent", "resolved"),
            ]
            assert live("heavy") == ["open"]  # yesterday is still yesterday
            # A day later: under baseline, and the meter has been silent since T0 + 2 min.
            done = await ev.evaluate(T0 + DAY)
            assert sorted((t.incident.rule, t.kind) for t in done) == [
                ("heavy", "resolved"),
                ("silent", "opened"),
            ]
            assert sorted(live("silent")) == ["open", "resolved"]  # a new incident, old kept
    finally:
        await store.aclose()


async def test_failed_command_opens_and_an_applied_retry_resolves(
    influx_db: object, tmp_path: Path
) -> None:
    root = tmp_path / "cfg"
    shutil.copytree(CASES / "_base", root)
    (root / "alerts.yaml").write_text(
        "rules:\n  - {id: cmd, name: Command failed, scope: {city: c1},"
        " condition: {kind: command}}\n"
    )
    config = load_config(root)
    store = open_store(f"{influx_db.url}?db={influx_db.database}")  # type: ignore[attr-defined]

    def command(n: int, at: int) -> Command:
        return Command(
            id=f"c{n}", site="s1", device="m1", point="setpoint", value=21.0,
            issued_at=at, expires_at=at + 5 * MIN, issuer="op",
        )  # fmt: skip

    try:
        with (
            AlertStore(tmp_path / "alerts.db") as db,
            CommandLedger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger,
        ):
            ev = AlertEvaluator(config.alerts, Registry.from_config(config), store, db, ledger)
            ledger.record(command(1, T0), CommandState.ACCEPTED, None, T0)
            assert await ev.evaluate(T0 + MIN) == []  # accepted: nothing to say yet
            ledger.transition("c1", CommandState.FAILED, T0 + 2 * MIN, source="edge")
            done = await ev.evaluate(T0 + 3 * MIN)
            assert [(t.incident.subject, t.kind) for t in done] == [("m1.setpoint", "opened")]
            assert done[0].incident.summary["outcome"] == "failed"
            ledger.record(command(2, T0 + 4 * MIN), CommandState.ACCEPTED, None, T0 + 4 * MIN)
            ledger.transition("c2", CommandState.SENT, T0 + 4 * MIN, source="api")
            ledger.transition("c2", CommandState.APPLIED, T0 + 5 * MIN, source="edge")
            done = await ev.evaluate(T0 + 6 * MIN)
            assert [(t.incident.subject, t.kind) for t in done] == [("m1.setpoint", "resolved")]
    finally:
        await store.aclose()


async def test_a_meter_answering_only_errors_is_silent(influx_db: object, tmp_path: Path) -> None:
    """A Modbus meter that stops answering (a dropout) still gets an error-quality reading from
    its gateway every poll: that is no data, and the rule fires; a value clears it."""
    root = tmp_path / "cfg"
    shutil.copytree(CASES / "_base", root)
    (root / "alerts.yaml").write_text(RULES)
    config = load_config(root)
    store = open_store(f"{influx_db.url}?db={influx_db.database}")  # type: ignore[attr-defined]
    tags = {"site": "s1", "device": "m1", "point": "power"}
    try:
        with AlertStore(tmp_path / "alerts.db") as db:
            ev = AlertEvaluator(config.alerts, Registry.from_config(config), store, db)
            await store.write([_reading(T0 - 40 * MIN)])
            errors = [Row("reading", tags, {"quality": 2}, T0 - k * MIN) for k in range(30)]
            await store.write(errors)
            done = await ev.evaluate(T0)
            assert ("silent", "m1", "opened") in {
                (t.incident.rule, t.incident.subject, t.kind) for t in done
            }
            await store.write([_reading(T0 + MIN)])
            done = await ev.evaluate(T0 + 2 * MIN)
            assert ("silent", "resolved") in {(t.incident.rule, t.kind) for t in done}
    finally:
        await store.aclose()


async def test_an_anomaly_a_command_explains_opens_no_alert(
    influx_db: object, tmp_path: Path
) -> None:
    """Issue 18: an open event with a `cause_ns` (a writable point changed just before it,
    e.g. a demand-response setpoint) is the platform's own order, not an alarm; the same
    event without it fires."""
    root = tmp_path / "cfg"
    shutil.copytree(CASES / "_base", root)
    (root / "alerts.yaml").write_text(RULES)
    config = load_config(root)
    store = open_store(f"{influx_db.url}?db={influx_db.database}")  # type: ignore[attr-defined]
    try:
        with AlertStore(tmp_path / "alerts.db") as db:
            ev = AlertEvaluator(config.alerts, Registry.from_config(config), store, db)
            explained = _event(T0 - 5 * MIN, 0, 0.95)
            explained.fields.update(cause_ns=T0 - 6 * MIN, cause_point="setpoint",
                                    cause_from=21.0, cause_to=19.0)  # fmt: skip
            await store.write([_reading(T0 - MIN), explained])
            done = await ev.evaluate(T0)
            assert [t for t in done if t.incident.rule == "odd"] == []
            # an explanation taken away (a hard verdict joined: ingest writes cause_ns 0)
            explained.fields["cause_ns"] = 0
            await store.write([explained])
            done = await ev.evaluate(T0 + MIN)
            assert [(t.incident.rule, t.kind) for t in done if t.incident.rule == "odd"] == [
                ("odd", "opened")
            ]
    finally:
        await store.aclose()
