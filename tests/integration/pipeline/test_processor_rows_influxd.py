"""The deriver's rows in a real influxd: field types stay consistent across steps (an event's
open row, then its closing row overwriting it; zero and non-zero scores), and the stored
events and energy read back as the API reads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from peakline_core.anomaly import AnomalyEvent
from peakline_core.storage import RowBlock, SeriesQuery
from peakline_core.storage.schema import ANOMALY_EVENT, ANOMALY_SCORE, EMISSIONS, ENERGY, READING
from peakline_core.wire import Topics
from peakline_ingest.derive import Deriver, DeriveSettings, EnergySource
from peakline_ingest.processors import ProcessorOutput
from peakline_ingest.processors_anomaly import AnomalyProcessor
from peakline_store.influx import InfluxStore

S = 1_000_000_000
T0 = 1_767_225_600 * S


def block(batch: int, n: int) -> RowBlock:
    i = batch * n + np.arange(n)
    ts = T0 + i.astype(np.int64) * 60 * S
    power = 20_000 + i * 10.0
    energy = 500 + i * 0.3  # a counter continuing across batches
    return RowBlock(
        READING,
        [{"site": "s1", "device": "m", "point": "power_total"},
         {"site": "s1", "device": "m", "point": "import_energy"}],
        np.repeat(np.arange(2), n),
        {"value": np.r_[power, energy], "quality": np.zeros(2 * n, np.int64)},
        np.r_[ts, ts],
    )  # fmt: skip


async def test_processor_rows_round_trip_in_influxd(influx_db: Any, tmp_path: Path) -> None:
    store = InfluxStore(influx_db.url, influx_db.database)
    anomaly = AnomalyProcessor(Topics("pl"))
    deriver = Deriver(
        store,
        [EnergySource("s1", "m", "import_energy", "import", "counter", 1.0)],
        {},
        None,
        DeriveSettings(lateness_s=10.0),
        anomaly=anomaly,
    )
    deriver.start_at(T0)
    try:
        for b in range(2):
            await store.write_blocks([block(b, 30)])
            # step in uneven chunks so the walk and the scorer see the readings split
            await deriver.step_to(T0 + (b + 1) * 30 * 60 * S - 7 * 60 * S)
        await deriver.step_to(T0 + 61 * 60 * S)
        out = ProcessorOutput()
        anomaly.fold([AnomalyEvent("s1/m/power_total", "spike", T0, None, 0.6, "open")], out)
        await store.write(out.rows)
        out = ProcessorOutput()
        anomaly.fold(
            [AnomalyEvent("s1/m/power_total", "spike", T0, T0 + 120 * S, 0.8, "closed")], out
        )
        await store.write(out.rows)
        span = (T0 - S, T0 + 86400 * S)
        scores = await store.query(SeriesQuery(ANOMALY_SCORE, "score", *span))
        assert sum(len(s.times) for s in scores) == 120
        fields = {}
        for field in ("event_id", "state", "end", "peak_score", "points"):
            (series,) = await store.query(SeriesQuery(ANOMALY_EVENT, field, *span))
            assert series.tags["kind"] == "spike" and series.times == [T0]
            fields[field] = series.values[0]
        assert fields["state"] == "closed" and int(fields["end"]) == T0 + 120 * S
        assert fields["peak_score"] == 0.8 and str(fields["event_id"]).startswith("ev-")
        assert fields["points"] == "power_total"  # a string field round-trips in influxd
        (kwh,) = await store.query(SeriesQuery(ENERGY, "kwh", *span))
        # 60 readings, 59 intervals; a fresh walk does not write its first window (it may be
        # partial and overwrite a complete one written before a restart), so 58 windows
        assert len(kwh.times) == 58 and kwh.times[0] == T0 + 60 * S
        assert abs(sum(kwh.values) - 58 * 0.3) < 1e-9
        assert await store.query(SeriesQuery(EMISSIONS, "kgco2e", *span)) == []  # no region
    finally:
        await store.aclose()
