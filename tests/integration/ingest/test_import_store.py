"""Imports against SQLite and a real influxd: the expected rows land, a re-import writes
nothing, a corrected file replaces its span, and after the deriver runs the site's roll-ups
equal the imported totals (hourly, daily and monthly)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peakline_core.config.loader import load_config
from peakline_core.importing import BillSpec, IntervalSpec
from peakline_core.storage import SeriesQuery, TotalsQuery
from peakline_core.storage.schema import (
    EMISSIONS,
    ENERGY,
    ENERGY_1D,
    ENERGY_1H,
    ENERGY_1MO,
    IMPORT_LEDGER,
)
from peakline_ingest.derive import Deriver, DeriveSettings
from peakline_store.importing import ImportRefused, commit, plan_import

REPO = Path(__file__).resolve().parents[3]
CASES = REPO / "tests" / "cases" / "import"
S = 1_000_000_000
COMMIT_AT = 1_767_225_600 * S  # 2026-01-01T00:00Z: the commit's clock and the deriver's
NY = IntervalSpec(timezone="America/New_York")
EVERYTHING = (0, 2**62)


def case(name: str) -> bytes:
    return (CASES / name).read_bytes()


def expected(name: str) -> dict:
    return json.loads((CASES / name).read_text())


async def total(store, measurement: str, field: str = "kwh", **where: str) -> float:
    got = await store.totals(
        TotalsQuery(measurement, (field,), *EVERYTHING, {k: [v] for k, v in where.items()})
    )
    return sum(t.sums.get(field, 0.0) for t in got)


async def count(store, **where: str) -> int:
    got = await store.query(
        SeriesQuery(ENERGY, "kwh", *EVERYTHING, {k: [v] for k, v in where.items()})
    )
    return sum(len(s.times) for s in got)


async def derive(store, at_ns: int) -> None:
    """The deriver as ingest runs it, over the commit's marks (no live sources)."""
    book = load_config(REPO / "config").factor_book()
    d = Deriver(store, [], {"s1": "CN-EAST"}, book, DeriveSettings())
    d.start_at(at_ns - 60 * S)
    await d.step_to(at_ns + 60 * S)


async def test_interval_import_lands_is_idempotent_and_a_correction_replaces(store) -> None:
    want = expected("utility_15min_dst.expected.json")
    args = (
        "interval",
        "utility_15min_dst.csv",
        case("utility_15min_dst.csv"),
        "s1",
        "m1",
        "import",
        NY,
    )
    dry = await plan_import(store, *args)
    assert len(dry.new) == want["rows"] and await count(store) == 0  # a dry run writes nothing

    assert await commit(store, dry, clock_ns=lambda: COMMIT_AT) == want["rows"]
    assert await count(store, device="m1", flow="import") == want["rows"]
    assert await total(store, ENERGY, site="s1") == pytest.approx(want["total_kwh"], abs=1e-9)
    row = await store.query(SeriesQuery(ENERGY, "source", *EVERYTHING))
    assert row[0].values[0] == "utility_15min_dst.csv:2"
    quality = await store.query(SeriesQuery(ENERGY, "quality", *EVERYTHING))
    assert set(quality[0].values) == {"imported"}

    again = await plan_import(store, *args)
    assert (len(again.new), len(again.changed), len(again.cleared)) == (0, 0, 0)
    assert again.unchanged == want["rows"] and again.committed_before == [COMMIT_AT]
    assert await commit(store, again, clock_ns=lambda: COMMIT_AT + S) == 0
    ledger = await store.query(SeriesQuery(IMPORT_LEDGER, "written", *EVERYTHING))
    assert [v for s in ledger for v in s.values] == [want["rows"], 0]

    fixed = await plan_import(
        store,
        "interval",
        "utility_15min_dst_corrected.csv",
        case("utility_15min_dst_corrected.csv"),
        "s1",
        "m1",
        "import",
        NY,
    )
    c = want["corrected"]
    assert (len(fixed.changed), len(fixed.cleared), len(fixed.new)) == (
        c["changed"],
        c["cleared"],
        0,
    )
    # the other rows keep their values and now name the corrected file
    assert len(fixed.relabelled) == c["rows"] - c["changed"]
    await commit(store, fixed, clock_ns=lambda: COMMIT_AT + 2 * S)
    assert await total(store, ENERGY, site="s1") == pytest.approx(c["total_kwh"], abs=1e-9)

    await derive(store, COMMIT_AT + 2 * S)
    for rollup in (ENERGY_1H, ENERGY_1D, ENERGY_1MO):
        got = await total(store, rollup, site="s1", flow="import")
        assert got == pytest.approx(c["total_kwh"], abs=1e-9), rollup


async def test_bms_register_log_and_bills_roll_up_to_their_totals(store) -> None:
    bms = expected("bms_hourly_mwh.expected.json")
    plan = await plan_import(
        store,
        "interval",
        "bms_hourly_mwh.csv",
        case("bms_hourly_mwh.csv"),
        "s1",
        "bms1",
        "import",
        IntervalSpec(kind="register"),
    )
    await commit(store, plan, clock_ns=lambda: COMMIT_AT)
    bills = expected("bills_24_months.expected.json")
    plan = await plan_import(
        store,
        "bills",
        "bills_24_months.csv",
        case("bills_24_months.csv"),
        "s1",
        "gas1",
        "fuel:natural_gas",
        BillSpec(timezone="America/New_York", stored_unit="kwh"),
    )
    assert plan.result.errors == [] and len(plan.new) == bills["days"]
    assert plan.bills == bills["bills"]
    await commit(store, plan, clock_ns=lambda: COMMIT_AT + S)
    await derive(store, COMMIT_AT + S)
    for rollup in (ENERGY_1H, ENERGY_1D, ENERGY_1MO):
        imp = await total(store, rollup, site="s1", flow="import")
        assert imp == pytest.approx(bms["total_kwh"], rel=1e-12), rollup
        gas = await total(store, rollup, site="s1", flow="fuel:natural_gas")
        assert gas == pytest.approx(bills["total_kwh"], rel=1e-12), rollup
        est = await total(store, rollup, "estimated_kwh", site="s1", flow="fuel:natural_gas")
        assert est == pytest.approx(bills["total_kwh"], rel=1e-12), rollup
    # every imported hour of the electricity import is priced, like a live hour
    kg = await store.query(SeriesQuery(EMISSIONS, "kgco2e", *EVERYTHING, {"site": ["s1"]}))
    assert sum(len(s.times) for s in kg) == bms["rows"]
    assert all(v is not None and v > 0 for s in kg for v in s.values)


async def test_an_excel_export_lands(store) -> None:
    want = expected("bms_hourly_wh.expected.json")
    spec = IntervalSpec(columns={"ts": "Zeitstempel"}, timezone=want["timezone"])
    plan = await plan_import(
        store,
        "interval",
        "bms_hourly_wh.xlsx",
        case("bms_hourly_wh.xlsx"),
        "s1",
        "bms2",
        "import",
        spec,
    )
    assert await commit(store, plan, clock_ns=lambda: COMMIT_AT) == want["rows"]
    assert await count(store, device="bms2") == want["rows"]
    assert await total(store, ENERGY, device="bms2") == pytest.approx(want["total_kwh"])


async def test_bad_rows_are_left_out_and_an_import_over_live_energy_is_refused(store) -> None:
    want = expected("bad_rows.expected.json")
    spec = IntervalSpec(timezone=want["timezone"])
    plan = await plan_import(
        store, "interval", "bad_rows.csv", case("bad_rows.csv"), "s1", "m1", "import", spec
    )
    assert [e.line for e in plan.result.errors] == [e["line"] for e in want["errors"]]
    live = plan.new[0]
    await store.write([type(live)(ENERGY, live.tags, {"kwh": 0.3, "quality": "measured"}, live.ts)])
    plan = await plan_import(
        store, "interval", "bad_rows.csv", case("bad_rows.csv"), "s1", "m1", "import", spec
    )
    assert plan.live == 1
    with pytest.raises(ImportRefused, match="live readings"):
        await commit(store, plan)
    assert await count(store) == 1  # the live row only
