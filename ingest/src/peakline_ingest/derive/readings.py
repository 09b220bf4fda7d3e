"""Reading stored readings back for derivation: good numeric values per series, in order."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from peakline_core.storage import RowBlock, SeriesQuery, Store
from peakline_core.storage.schema import READING, QualityCode

SeriesKey = tuple[str, str, str]
"""(site, device, point)"""


@dataclass(frozen=True, slots=True)
class GoodReadings:
    """Per series key: times (UTC ns, increasing) and values of its good numeric readings."""

    series: dict[SeriesKey, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]

    def __len__(self) -> int:
        return sum(t.size for t, _ in self.series.values())

    def block(self) -> RowBlock:
        """All of them as one `reading` block (what the anomaly scorer takes)."""
        keys = list(self.series)
        sizes = [self.series[k][0].size for k in keys]
        ts = np.concatenate([self.series[k][0] for k in keys]) if keys else np.empty(0, np.int64)
        values = (
            np.concatenate([self.series[k][1] for k in keys]) if keys else np.empty(0, np.float64)
        )
        return RowBlock(
            READING,
            [{"site": s, "device": d, "point": p} for s, d, p in keys],
            np.repeat(np.arange(len(keys)), sizes).astype(np.intp),
            {"value": values, "quality": np.zeros(ts.size, np.int64)},
            ts.astype(np.int64),
        )


async def good_readings(
    store: Store, start_ns: int, end_ns: int, where: Mapping[str, Sequence[str]] | None = None
) -> GoodReadings:
    """Good numeric readings in [start_ns, end_ns): values whose quality is good (a reading
    stored without a quality field counts as good, as older rows may lack it)."""
    where = dict(where or {})
    values = await store.query(SeriesQuery(READING, "value", start_ns, end_ns, where=where))
    quality = await store.query(SeriesQuery(READING, "quality", start_ns, end_ns, where=where))
    bad: dict[SeriesKey, set[int]] = {}
    for s in quality:
        key = (s.tags.get("site", ""), s.tags.get("device", ""), s.tags.get("point", ""))
        marks = {
            int(t)
            for t, q in zip(s.times, s.values, strict=True)
            if isinstance(q, int | float) and int(q) != int(QualityCode.GOOD)
        }
        if marks:
            bad[key] = marks
    out: dict[SeriesKey, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]] = {}
    for s in values:
        key = (s.tags.get("site", ""), s.tags.get("device", ""), s.tags.get("point", ""))
        skip = bad.get(key, set())
        pairs = [
            (int(t), float(v))
            for t, v in zip(s.times, s.values, strict=True)
            if isinstance(v, int | float) and not isinstance(v, bool) and int(t) not in skip
        ]
        if not pairs:
            continue
        ts = np.array([p[0] for p in pairs], dtype=np.int64)
        vs = np.array([p[1] for p in pairs], dtype=np.float64)
        order = np.argsort(ts, kind="stable")
        ts, vs = ts[order], vs[order]
        finite = np.isfinite(vs)
        out[key] = (ts[finite], vs[finite])
    return GoodReadings(out)
