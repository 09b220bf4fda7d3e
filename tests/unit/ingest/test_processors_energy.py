"""EnergyProcessor on columnar blocks: counters and power to site flows, Scope 2 rows."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from peakline_core.config import load_config
from peakline_core.emissions import (
    FactorBook,
    InstrumentBlock,
    MarketInstrument,
    SiteMarket,
    scope2_market,
)
from peakline_core.storage import Row, RowBlock
from peakline_core.storage.schema import EMISSIONS, ENERGY, READING
from peakline_ingest.processors_energy import EnergyProcessor, EnergySource, sources_from_config
from peakline_ingest.store.sqlite import SqliteStore

S = 1_000_000_000
T0 = 1_767_225_600 * S  # 2026-01-01 UTC
REPO = Path(__file__).resolve().parents[3]


def block(series: dict[tuple[str, str, str], list[float]], t0: int, step_s: int = 60) -> RowBlock:
    keys = list(series)
    idx = np.concatenate([np.full(len(v), i, np.intp) for i, v in enumerate(series.values())])
    ts = np.concatenate(
        [t0 + np.arange(len(v), dtype=np.int64) * step_s * S for v in series.values()]
    )
    value = np.concatenate([np.asarray(v, float) for v in series.values()])
    tags = [{"site": s, "device": d, "point": p} for s, d, p in keys]
    return RowBlock(
        READING, tags, idx, {"value": value, "quality": np.zeros(len(value), np.int64)}, ts
    )


def totals(rows: list, measurement: str, tag: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for r in rows:
        if r.measurement == measurement:
            out[r.tags[tag]] = out.get(r.tags[tag], 0.0) + r.fields[next(iter(r.fields))]
    return out


def test_counters_across_batches_with_rollover_and_emissions() -> None:
    book = FactorBook(load_config(REPO / "config").factor_sets.values())
    region = "CN-EAST"
    sources = [
        EnergySource("s1", "m", "import_energy", "import", "counter", 1.0, rollover=1000.0),
        EnergySource("s1", "m", "export_energy", "export", "counter", 1.0),
    ]
    proc = EnergyProcessor(sources, {"s1": region}, book)
    first = proc.process([], block({("s1", "m", "import_energy"): [990, 995, 999],
                                    ("s1", "m", "export_energy"): [5, 5, 6]}, T0))  # fmt: skip
    second = proc.process([], block({("s1", "m", "import_energy"): [3, 8]}, T0 + 180 * S))
    rows = first.rows + second.rows
    energy = totals(rows, ENERGY, "flow")
    assert energy["import"] == pytest.approx(18.0)  # 990 -> 1008 across the wrap and the batch
    assert energy["export"] == pytest.approx(1.0)
    loc = book.location_factor(region, 2026)
    assert totals(rows, EMISSIONS, "method")["location"] == pytest.approx(18.0 * loc)
    assert totals(rows, EMISSIONS, "method")["market"] == pytest.approx(
        18.0 * book.residual_mix(region, 2026)
    )
    # every emissions row is scope 2 and sits at an energy row's time
    times = {r.ts for r in rows if r.measurement == ENERGY and r.tags["flow"] == "import"}
    assert all(r.tags["scope"] == "2" and r.ts in times for r in rows if r.measurement == EMISSIONS)


def test_the_programme_gwp_set_reaches_the_emissions_rows(tmp_path: Path) -> None:
    """programme.yaml `gwp` is the one GWP set of the inventory: the processor's book
    combines a US site's CH4 and N2O rates with it (AR4 reproduces eGRID2022's own CO2e)."""
    root = tmp_path / "config"
    shutil.copytree(REPO / "config", root)
    programme = yaml.safe_load((root / "programme.yaml").read_text())
    (root / "programme.yaml").write_text(yaml.safe_dump(programme | {"gwp": "AR4"}))
    ar4 = EnergyProcessor.from_config(load_config(root))
    ar5 = EnergyProcessor.from_config(load_config(REPO / "config"))
    assert ar4.book is not None and ar5.book is not None
    assert (ar4.book.gwp, ar5.book.gwp) == ("AR4", "AR5")
    lb = 0.45359237 / 1000.0  # lb/MWh -> kg/kWh
    newe = {"AR4": 536.428 + 0.063 * 25 + 0.008 * 298, "AR5": 536.428 + 0.063 * 28 + 0.008 * 265}
    for proc in (ar4, ar5):
        assert proc.book is not None
        site = next(s for s, r in proc.regions.items() if r == "US-NEWE")
        src = EnergySource(site, "m", "import_energy", "import", "counter", 1.0)
        one = EnergyProcessor([src], proc.regions, proc.book)
        rows = one.process([], block({(site, "m", "import_energy"): [0.0, 10.0]}, T0)).rows
        location = totals(rows, EMISSIONS, "method")["location"]
        assert location == pytest.approx(10.0 * newe[proc.book.gwp] * lb, rel=1e-9)


def test_net_power_split_and_redelivery_not_counted_twice() -> None:
    proc = EnergyProcessor([EnergySource("s1", "m", "power_total", "net", "power", 1e-3)], {})
    watts = [6000, 6000, -3000, -3000]  # 1-minute samples
    b = block({("s1", "m", "power_total"): watts}, T0)
    rows = proc.process([], b).rows
    again = proc.process([], b).rows  # a redelivered batch: nothing new
    energy = totals(rows, ENERGY, "flow")
    # each sign is clipped, then integrated by trapezoid: the crossing minute counts
    # half of each side (6 kW -> 0 import, 0 -> 3 kW export)
    assert energy["import"] == pytest.approx(6 / 60 + 6 / 2 / 60)
    assert energy["export"] == pytest.approx(3 / 2 / 60 + 3 / 60)
    assert not [r for r in again if r.measurement == ENERGY]
    assert not [r for r in rows if r.measurement == EMISSIONS]  # no region, no factors


def test_sources_from_the_example_district() -> None:
    sources = sources_from_config(load_config(REPO / "config"))
    flows = {(s.device, s.flow) for s in sources}
    assert ("school-meter", "import") in flows and ("school-meter", "export") in flows
    assert ("school-pv", "pv") in flows
    assert not [s for s in sources if s.device.endswith("hvac")]  # sub-meters are left out
    assert all(s.kind == "counter" for s in sources)


def _counter_processor(market: SiteMarket | None) -> tuple[EnergyProcessor, FactorBook]:
    book = FactorBook(load_config(REPO / "config").factor_sets.values())
    src = [EnergySource("s1", "m", "import_energy", "import", "counter", 1.0, rollover=1000.0)]
    return EnergyProcessor(src, {"s1": "CN-EAST"}, book, markets={"s1": market}), book


def _market_rows(rows: list) -> list[float]:
    return [
        r.fields["kgco2e"]
        for r in sorted(rows, key=lambda r: r.ts)
        if r.measurement == EMISSIONS and r.tags["method"] == "market"
    ]


MARKET = SiteMarket(
    instruments=[
        MarketInstrument(kind="green_power_contract", mwh=0.006, year=2026),  # 6 kWh at 0
        MarketInstrument(kind="supplier_specific", mwh=0.005, factor_kg_per_kwh=0.2, year=2026),
        MarketInstrument(kind="certificate", mwh=1.0, year=2025),  # other vintage: not used
    ],
    residual_mix_kg_per_kwh=0.7,
)


def test_market_rows_use_site_instruments_across_batches() -> None:
    """Imports 5, 4 | 4, 5 kWh (two batches, the counter wraps at 1000): the 6 kWh green
    contract covers 5 + 1, the 5 kWh supplier rate (0.2) 3 + 2, the rest is at the site's
    residual mix (0.7): per interval 0, 0.6, 0.4 + 1.4, 3.5 kg -- the same as the core's
    `scope2_market` over the whole series, which the API report sums."""
    proc, book = _counter_processor(MARKET)
    first = proc.process([], block({("s1", "m", "import_energy"): [990, 995, 999]}, T0))
    assert proc.matched_kwh[("s1", 2026)] == pytest.approx(9.0)
    second = proc.process([], block({("s1", "m", "import_energy"): [3, 8]}, T0 + 180 * S))
    market = _market_rows(first.rows + second.rows)
    assert market == pytest.approx([0.0, 0.6, 1.8, 3.5])
    core = scope2_market([[5.0, 4.0, 4.0, 5.0]], InstrumentBlock.from_markets([MARKET], 2026), 0.7)
    assert market == pytest.approx(core.kg[0].tolist())
    assert proc.matched_kwh[("s1", 2026)] == pytest.approx(11.0)  # all instrument volume used
    loc = book.location_factor("CN-EAST", 2026)
    assert totals(first.rows + second.rows, EMISSIONS, "method")["location"] == pytest.approx(
        18.0 * loc
    )


def test_site_without_instruments_keeps_residual_mix() -> None:
    proc, book = _counter_processor(SiteMarket(residual_mix_kg_per_kwh=0.65))
    rows = proc.process([], block({("s1", "m", "import_energy"): [10, 20]}, T0)).rows
    assert _market_rows(rows) == pytest.approx([10 * 0.65])
    plain, _ = _counter_processor(None)
    rows = plain.process([], block({("s1", "m", "import_energy"): [10, 20]}, T0)).rows
    assert _market_rows(rows) == pytest.approx([10 * book.residual_mix("CN-EAST", 2026)])


async def test_restore_matched_from_stored_imports(tmp_path: Path) -> None:
    """After a restart the instrument volume already used this year is the import energy
    stored since 1 January: 7 kWh stored -> 4 kWh of instruments left, then the residual."""
    store = SqliteStore(tmp_path / "s.db")
    try:
        await store.write(
            [
                Row(ENERGY, {"site": "s1", "flow": "import"}, {"kwh": 3.0}, T0 + 60 * S),
                Row(ENERGY, {"site": "s1", "flow": "import"}, {"kwh": 4.0}, T0 + 120 * S),
                Row(ENERGY, {"site": "s1", "flow": "export"}, {"kwh": 9.0}, T0 + 120 * S),
                Row(ENERGY, {"site": "s1", "flow": "import"}, {"kwh": 50.0}, T0 - 3600 * S),
            ]
        )
        proc, _ = _counter_processor(MARKET)
        await proc.restore_matched(store, T0 + 3600 * S)
        assert proc.matched_kwh == {("s1", 2026): pytest.approx(7.0)}
        rows = proc.process([], block({("s1", "m", "import_energy"): [0, 6]}, T0 + 3600 * S)).rows
        # 6 kWh: 4 left on the supplier rate (0.2), 2 at the residual mix (0.7)
        assert _market_rows(rows) == pytest.approx([4 * 0.2 + 2 * 0.7])
    finally:
        await store.aclose()
