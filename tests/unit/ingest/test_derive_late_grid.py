"""A grid-intensity point stored after its hour was derived (redelivered after an outage, a
backfilled CSV) re-prices that hour: ingest writes it with a `late_data` mark under device
`grid:<region>`, and the deriver rolls up the hours from the point's own again for every site
of the region, so the emissions rows end as if the point had been there first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peakline_core.config.loader import load_config
from peakline_core.storage import Row, RowBlock, SeriesQuery
from peakline_core.storage.schema import CARBON_INTENSITY, EMISSIONS, EMISSIONS_1D, READING
from peakline_ingest.derive import Deriver, DeriveSettings, EnergySource, LateMarks
from peakline_store.sqlite import SqliteStore

REPO = Path(__file__).resolve().parents[3]
S = 1_000_000_000
HOUR = 3600 * S
T0 = 1_767_225_600 * S + 6 * HOUR  # 2026-01-01T06:00Z
END = T0 + 3 * HOUR
SITES = {
    "m1": ("s1", "CN-EAST", 120.0),
    "m2": ("s2", "CN-EAST", 60.0),
    "m3": ("s3", "US-NEWE", 90.0),
}
SOURCES = [EnergySource(site, d, "import_energy", "import", "counter", 1.0)
           for d, (site, _, _) in SITES.items()]  # fmt: skip


async def derived(path: Path) -> tuple[SqliteStore, Deriver, int]:
    """Three hours of 10 s counter readings per meter, derived to the end; the clock after."""
    store = SqliteStore(path)
    n = (END - T0) // (10 * S) + 1
    ts = T0 + np.arange(n, dtype=np.int64) * 10 * S
    for device, (site, _, kw) in SITES.items():
        counter = 8_000.0 + np.arange(n) * kw * 10 / 3600
        await store.write_blocks([RowBlock(
            READING, [{"site": site, "device": device, "point": "import_energy"}],
            np.zeros(n, np.intp), {"value": counter, "quality": np.zeros(n, np.int64)}, ts,
        )])  # fmt: skip
    book = load_config(REPO / "config").factor_book()
    regions = {site: region for site, region, _ in SITES.values()}
    deriver = Deriver(store, SOURCES, regions, book, DeriveSettings(), path.parent / "state")
    deriver.start_at(T0)
    now = END + 60 * S
    await deriver.step_to(now)
    return store, deriver, now


async def hourly(store: SqliteStore, field: str) -> dict[tuple[str, int], object]:
    got = await store.query(SeriesQuery(EMISSIONS, field, T0, END))
    return {(s.tags["site"], t): v for s in got for t, v in zip(s.times, s.values, strict=True)}


def point(region: str, ts: int, g: float) -> Row:
    return Row(CARBON_INTENSITY, {"region": region}, {"g_per_kwh": g}, ts)


@pytest.mark.parametrize("marked", [True, False])
async def test_a_late_grid_point_reprices_its_hour_for_every_site_of_its_region(
    tmp_path: Path, marked: bool
) -> None:
    store, deriver, now = await derived(tmp_path / "s.db")
    before = await hourly(store, "basis")
    assert before and all(str(b).startswith("annual:") for b in before.values())
    kg_before = await hourly(store, "kgco2e")
    day_before = await store.query(SeriesQuery(EMISSIONS_1D, "kgco2e", T0 - T0 % (24 * HOUR), END))

    hour = T0 + HOUR  # the middle hour, derived long ago by the deriver's standards
    late = point("CN-EAST", hour + 20 * 60 * S, 900.0)
    marks = LateMarks("w1", DeriveSettings().lateness_s, clock_ns=lambda: now)
    mark = marks.grid(late)
    assert mark is not None and mark.tags["device"] == "grid:CN-EAST"
    await store.write([late, mark] if marked else [late])
    await deriver.step_to(now + 4 * S)

    basis, kg = await hourly(store, "basis"), await hourly(store, "kgco2e")
    if not marked:  # without the mark nothing tells the deriver: the hour stays as it was
        assert basis == before and kg == kg_before
        return
    for site in ("s1", "s2"):
        assert basis[(site, hour)] == "grid-hourly:CN-EAST"
        kwh = SITES[{"s1": "m1", "s2": "m2"}[site]][2]  # a constant kW for the whole hour
        assert kg[(site, hour)] == pytest.approx(kwh * 0.9, rel=1e-6)
    changed = {k for k in kg if kg[k] != kg_before[k]}
    assert changed == {("s1", hour), ("s2", hour)}  # not s3 (US-NEWE), not the other hours
    day = await store.query(SeriesQuery(EMISSIONS_1D, "kgco2e", T0 - T0 % (24 * HOUR), END))
    totals = {s.tags["site"]: float(s.values[0]) for s in day}  # type: ignore[arg-type]
    totals_before = {s.tags["site"]: float(s.values[0]) for s in day_before}  # type: ignore[arg-type]
    for site in ("s1", "s2"):
        assert totals[site] - totals_before[site] == pytest.approx(
            kg[(site, hour)] - kg_before[(site, hour)]  # type: ignore[operator]
        )
    assert totals["s3"] == totals_before["s3"]
    await store.aclose()


def test_a_point_inside_the_lateness_is_not_marked() -> None:
    now = END
    marks = LateMarks("w1", 10.0, clock_ns=lambda: now)
    assert marks.grid(point("CN-EAST", now - 4 * S, 500.0)) is None
    assert marks.grid(point("CN-EAST", now - 6 * S, 500.0)) is not None  # half the lateness
    assert marks.marked == 1
