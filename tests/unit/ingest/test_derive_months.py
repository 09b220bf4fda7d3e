"""Monthly roll-ups: the deriver writes `energy_1mo` / `emissions_1mo` per UTC calendar month
as the sums of that month's daily rows (reports read whole months from them), across a month
and year boundary, and rebuilds them once for a store derived before they existed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from peakline_core.config.loader import load_config
from peakline_core.derive.calendar import month_floor
from peakline_core.storage import RowBlock, TotalsQuery
from peakline_core.storage.schema import (
    EMISSIONS_1D,
    EMISSIONS_1MO,
    ENERGY,
    ENERGY_1D,
    ENERGY_1MO,
    READING,
)
from peakline_ingest.derive import Deriver, DeriveSettings, EnergySource
from peakline_ingest.derive.deriver import STATE_FILE
from peakline_store.sqlite import SqliteStore

REPO = Path(__file__).resolve().parents[3]
S = 1_000_000_000
NEW_YEAR = 1_767_225_600 * S  # 2026-01-01T00:00:00Z
START, END = NEW_YEAR - 3 * 3600 * S, NEW_YEAR + 2 * 3600 * S
SITES = {"m1": ("s1", 120.0), "m2": ("s2", 60.0)}
SOURCES = [EnergySource(site, d, "import_energy", "import", "counter", 1.0)
           for d, (site, _) in SITES.items()]  # fmt: skip
DEC, JAN = month_floor(NEW_YEAR - 1), NEW_YEAR


async def seeded(path: Path) -> SqliteStore:
    store = SqliteStore(path)
    n = (END - START) // (10 * S)
    ts = START + np.arange(n, dtype=np.int64) * 10 * S
    for device, (site, kw) in SITES.items():
        counter = 5_000.0 + np.arange(n) * kw * 10 / 3600
        await store.write_blocks([RowBlock(
            READING, [{"site": site, "device": device, "point": "import_energy"}],
            np.zeros(n, np.intp), {"value": counter, "quality": np.zeros(n, np.int64)}, ts,
        )])  # fmt: skip
    return store


def deriver(store: SqliteStore, state: Path) -> Deriver:
    book = load_config(REPO / "config").factor_book()
    regions = {"s1": "CN-EAST", "s2": "CN-EAST"}
    return Deriver(store, SOURCES, regions, book, DeriveSettings(), state)


async def sums(store: SqliteStore, measurement: str, field: str, lo: int, hi: int) -> dict:
    got = await store.totals(TotalsQuery(measurement, (field,), lo, hi))
    return {t.tags["site"]: t.sums[field] for t in got}


async def test_months_are_the_sums_of_their_days_across_a_year_end(tmp_path: Path) -> None:
    store = await seeded(tmp_path / "s.db")
    d = deriver(store, tmp_path / "state")
    d.start_at(START)
    await d.step_to(END + 60 * S)
    for month, nxt in ((DEC, JAN), (JAN, month_floor(JAN + 40 * 86400 * S))):
        months = await sums(store, ENERGY_1MO, "kwh", month, month + 1)
        assert months == pytest.approx(await sums(store, ENERGY_1D, "kwh", month, nxt), rel=1e-12)
        assert months == pytest.approx(await sums(store, ENERGY, "kwh", month, nxt), rel=1e-12)
        kg = await sums(store, EMISSIONS_1MO, "kgco2e", month, month + 1)
        assert kg == pytest.approx(await sums(store, EMISSIONS_1D, "kgco2e", month, nxt))
    # 3 h of December and 2 h of January at a constant 120 and 60 kW, less December's first
    # minute: a fresh walk's first window is partial (no reading before the data) and is not
    # written, so it cannot overwrite a complete one; and January's last minute, still open
    # (its window ends after the last reading: it closes when a later one arrives)
    dec = await sums(store, ENERGY_1MO, "kwh", DEC, DEC + 1)
    jan = await sums(store, ENERGY_1MO, "kwh", JAN, JAN + 1)
    for site, kw in (("s1", 120), ("s2", 60)):
        assert dec[site] == pytest.approx(kw * (3 - 1 / 60))
        assert jan[site] == pytest.approx(kw * (2 - 1 / 60))
    await store.aclose()


async def test_a_store_derived_before_months_existed_gets_them_once(tmp_path: Path) -> None:
    store = await seeded(tmp_path / "s.db")
    first = deriver(store, tmp_path / "state")
    first.start_at(START)
    await first.step_to(END + 60 * S)
    first.save()
    expected = await sums(store, ENERGY_1MO, "kwh", DEC, JAN + 1)
    await store.aclose()
    # what a deriver of the previous format left: no monthly rows, a format-1 checkpoint
    with sqlite3.connect(tmp_path / "s.db") as db:
        db.execute(
            "DELETE FROM samples WHERE series_id IN"
            " (SELECT id FROM series WHERE measurement IN ('energy_1mo', 'emissions_1mo'))"
        )
    state = tmp_path / "state" / STATE_FILE
    state.write_text(json.dumps(json.loads(state.read_text()) | {"format": 1}))
    store = SqliteStore(tmp_path / "s.db")
    assert await sums(store, ENERGY_1MO, "kwh", DEC, JAN + 1) == {}
    again = deriver(store, tmp_path / "state")
    again.load()
    await again.step_to(END + 70 * S)
    assert await sums(store, ENERGY_1MO, "kwh", DEC, JAN + 1) == pytest.approx(expected)
    await store.aclose()


async def test_a_report_reading_an_hour_minus_its_first_minutes_equals_the_minutes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # [21:05, 01:00) reads the hours from 21:00 minus the five minutes before 21:05
    # (`signed_tiles`), not 55 one-minute rows: the same kWh and kgCO2e as the minutes.
    from peakline_api import totals
    from peakline_api.totals import energy_sums, location_kg
    from peakline_core.derive.calendar import signed_tiles, tiles

    store = await seeded(tmp_path / "s.db")
    d = deriver(store, tmp_path / "state")
    d.start_at(START)
    await d.step_to(END + 60 * S)
    lo, hi = START + 5 * 60 * S, END - 60 * S
    assert ("1m", START, lo, -1) in signed_tiles(lo, hi)
    got = await energy_sums(store, ["s1", "s2"], lo, hi)
    minutes = await sums(store, ENERGY, "kwh", lo, hi)
    for site, kw in (("s1", 120), ("s2", 60)):
        assert got[(site, "import")]["kwh"] == pytest.approx(minutes[site], rel=1e-12)
        assert minutes[site] == pytest.approx(kw * (hi - lo) / (3600 * S))
    kg = await location_kg(store, ["s1", "s2"], lo, hi)
    additive = lambda a, b: [(*t, 1) for t in tiles(a, b)]  # noqa: E731
    monkeypatch.setattr(totals, "signed_tiles", additive)
    kg_minutes = await location_kg(store, ["s1", "s2"], lo, hi)
    assert kg["s1"] > 0
    assert kg == pytest.approx(kg_minutes, rel=1e-12)
    await store.aclose()
