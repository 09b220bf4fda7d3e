"""An in-memory Store (our own seam) for fast router tests; integration tests use real stores."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from peakline_core.storage import (
    Aggregate,
    Row,
    Series,
    SeriesQuery,
    StoreUnavailable,
    Totals,
    TotalsQuery,
)
from peakline_core.storage.schema import SERIES_TAGS


class MemoryStore:
    """Implements the Store protocol over a dict; records the queries it was asked."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, tuple[tuple[str, str], ...], int], dict[str, object]] = {}
        self.queries: list[object] = []
        self.down = False

    async def write(self, rows: Sequence[Row]) -> None:
        for r in rows:
            key = (r.measurement, tuple(sorted(r.tags.items())), r.ts)
            self.rows.setdefault(key, {}).update(r.fields)

    def _match(self, measurement: str, where: Mapping[str, Sequence[str]]):
        for (m, tags, ts), fields in self.rows.items():
            d = dict(tags)
            if m == measurement and all(d.get(k) in set(v) for k, v in where.items()):
                yield d, ts, fields

    async def query(self, query: SeriesQuery) -> list[Series]:
        if self.down:
            raise StoreUnavailable("down", 1.0)
        self.queries.append(query)
        by_series: dict[tuple, list[tuple[int, object]]] = defaultdict(list)
        keys = SERIES_TAGS[query.measurement]
        for tags, ts, fields in self._match(query.measurement, query.where):
            if query.start_ns <= ts < query.end_ns and query.field in fields:
                by_series[tuple(tags.get(k, "") for k in keys)].append((ts, fields[query.field]))
        out = []
        for key, points in sorted(by_series.items()):
            points.sort()
            if query.every_ns:
                buckets: dict[int, list] = defaultdict(list)
                for t, v in points:
                    buckets[t - t % query.every_ns].append(v)
                fn = {
                    Aggregate.MEAN: lambda v: sum(v) / len(v),
                    Aggregate.MIN: min,
                    Aggregate.MAX: max,
                    Aggregate.SUM: sum,
                    Aggregate.LAST: lambda v: v[-1],
                    Aggregate.COUNT: len,
                }[query.aggregate]
                points = [(t, fn(v)) for t, v in sorted(buckets.items())]
            if query.limit:
                points = points[: query.limit]
            out.append(
                Series(
                    dict(zip(keys, key, strict=True)),
                    [t for t, _ in points],
                    [v for _, v in points],
                )
            )
        return out

    async def latest(
        self, measurement: str, field: str, where: Mapping[str, Sequence[str]]
    ) -> list[Series]:
        if self.down:
            raise StoreUnavailable("down", 1.0)
        self.queries.append((measurement, field, dict(where)))
        newest: dict[tuple, tuple[int, object]] = {}
        keys = SERIES_TAGS[measurement]
        for tags, ts, fields in self._match(measurement, where):
            if field in fields:
                key = tuple(tags.get(k, "") for k in keys)
                if key not in newest or ts > newest[key][0]:
                    newest[key] = (ts, fields[field])
        return [
            Series(dict(zip(keys, k, strict=True)), [t], [v])
            for k, (t, v) in sorted(newest.items())
        ]

    async def totals(self, query: TotalsQuery) -> list[Totals]:
        if self.down:
            raise StoreUnavailable("down", 1.0)
        self.queries.append(query)
        keys = SERIES_TAGS[query.measurement]
        sums: dict[tuple, dict[str, float]] = defaultdict(dict)
        for tags, ts, fields in self._match(query.measurement, query.where):
            if query.start_ns <= ts < query.end_ns:
                for f in query.fields:
                    v = fields.get(f)
                    if isinstance(v, int | float) and not isinstance(v, bool):
                        acc = sums[tuple(tags.get(k, "") for k in keys)]
                        acc[f] = acc.get(f, 0.0) + float(v)
        return [
            Totals({k: v for k, v in zip(keys, key, strict=True) if v}, got)
            for key, got in sorted(sums.items())
        ]

    async def ping(self) -> None:
        if self.down:
            raise StoreUnavailable("down", 1.0)

    async def aclose(self) -> None:
        pass


def with_month_rollups(rows: Sequence[Row]) -> list[Row]:
    """`rows` plus the `energy_1mo` / `emissions_1mo` rows the deriver would sum from their
    daily rows (reports read whole months from those)."""
    from peakline_core.derive.calendar import month_floor

    months: dict[tuple[str, tuple[tuple[str, str], ...], int], dict[str, float]] = {}
    for r in rows:
        target = {"energy_1d": "energy_1mo", "emissions_1d": "emissions_1mo"}.get(r.measurement)
        if target is None:
            continue
        acc = months.setdefault((target, tuple(sorted(r.tags.items())), month_floor(r.ts)), {})
        for f, v in r.fields.items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                acc[f] = acc.get(f, 0.0) + float(v)
    return [*rows, *(Row(m, dict(tags), fields, t) for (m, tags, t), fields in months.items())]
