"""EnergyProcessor on columnar blocks: counters and power to site flows, Scope 2 rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peakline_core.config import load_config
from peakline_core.emissions import FactorBook
from peakline_core.storage import RowBlock
from peakline_core.storage.schema import EMISSIONS, ENERGY, READING
from peakline_ingest.processors_energy import EnergyProcessor, EnergySource, sources_from_config

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
