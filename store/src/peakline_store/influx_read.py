"""InfluxDB /query answers into Series, and the one-point-per-window shortcut (pure).

Reads ask influxd for MessagePack (`Accept: application/x-msgpack`, InfluxDB >= 1.4): Go's
JSON encoder is the slowest part of a large answer, and MessagePack halves influxd's time
for a 144,000-point answer. Servers that ignore the header answer JSON; both are decoded by
msgspec straight into typed structs (`[time_ns, value]` rows as tuples), ~6x faster than
`json.loads` plus a per-point loop.

The shortcut: a `GROUP BY time(w)` answer costs influxd ~6 us per (series, window), twice a
raw point. When every window of every series holds at most one value, the aggregate of a
window *is* that value (mean, min, max, sum, last) or 1 (count), at the window's start
time, so the raw points carry the exact answer. `one_per_window` checks that on the points
actually returned and says None when it does not hold; the caller then asks influxd for the
aggregate. Only int and float values take it (mean turns ints into floats, as influxd does).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import replace
from typing import Any, Final, cast

import msgspec
import numpy as np

from peakline_core.storage import (
    Aggregate,
    Series,
    SeriesQuery,
    StoreRejected,
    StoreTruncated,
    StoreUnavailable,
)
from peakline_core.storage.schema import SERIES_TAGS

ACCEPT: Final = "application/x-msgpack"


class _RawSeries(msgspec.Struct):
    tags: dict[str, str] | None = None
    values: list[tuple[int, Any]] | None = None
    partial: bool = False


class _Result(msgspec.Struct):
    series: list[_RawSeries] | None = None
    error: str | None = None
    partial: bool = False


class _Answer(msgspec.Struct):
    results: list[_Result] | None = None
    error: str | None = None


_MSGPACK: Final = msgspec.msgpack.Decoder(_Answer)
_JSON: Final = msgspec.json.Decoder(_Answer)


def decode_answer(content_type: str, body: bytes, measurement: str) -> list[Series]:
    """The first statement's series of an `epoch=ns` answer, sorted by series tags.

    Empty tag values are dropped (a tag the series lacks), so are null values and series
    left with no point. An unknown database answers []; an InfluxQL error raises
    StoreRejected, a body that is not an answer StoreUnavailable (e.g. a proxy's page), and
    an answer influxd cut short at its `[http] max-row-limit` (marked `partial`: the rows
    past the limit, and every later series, are missing) StoreTruncated."""
    decoder = _MSGPACK if content_type.startswith(ACCEPT) else _JSON
    try:
        answer = decoder.decode(body)
    except msgspec.DecodeError as exc:
        detail = f"influxdb answered an undecodable {content_type!r} body: {exc}"
        raise StoreUnavailable(detail) from None
    first = (answer.results or [_Result()])[0]
    error = first.error or answer.error
    if error:
        if error.startswith("database not found"):
            return []
        raise StoreRejected(f"influxql: {error}")
    if first.partial or any(raw.partial for raw in first.series or ()):
        count = sum(len(raw.values or ()) for raw in first.series or ())
        raise StoreTruncated(
            f"influxdb cut the answer short after {count} rows (its [http] max-row-limit):"
            " set max-row-limit = 0, or query a shorter range or a coarser window"
        )
    out = []
    for raw in first.series or ():
        rows = raw.values
        if not rows:
            continue
        times = [row[0] for row in rows]
        values = [row[1] for row in rows]
        if None in values:
            kept = [(t, v) for t, v in zip(times, values, strict=True) if v is not None]
            if not kept:
                continue
            times = [t for t, _ in kept]
            values = [v for _, v in kept]
        tags = {k: v for k, v in (raw.tags or {}).items() if v != ""}
        out.append(Series(tags, times, values))
    return sort_series(measurement, out)


def window_count(start_ns: int, end_ns: int, every_ns: int) -> int:
    """Epoch-aligned windows of `every_ns` meeting [start_ns, end_ns)."""
    if end_ns <= start_ns:
        return 0
    return (end_ns - 1) // every_ns - start_ns // every_ns + 1


def one_per_window(
    series: list[Series], every_ns: int, aggregate: Aggregate
) -> list[Series] | None:
    """Raw points as the `aggregate` of epoch-aligned `every_ns` windows, or None when some
    window holds more than one value or a value is not an int or float."""
    out = []
    for s in series:
        kinds = set(map(type, s.values))
        if not kinds <= {float, int}:
            return None
        times = np.asarray(s.times, dtype=np.int64)
        starts = times - times % every_ns
        if starts.shape[0] > 1 and not bool((np.diff(starts) > 0).all()):
            return None
        window_times = list(s.times) if np.array_equal(starts, times) else starts.tolist()
        if aggregate is Aggregate.COUNT:
            values: list[Any] = [1] * len(window_times)
        elif aggregate is Aggregate.MEAN and int in kinds:
            values = [float(v) for v in cast("list[float | int]", s.values)]
        else:
            values = list(s.values)
        out.append(Series(s.tags, window_times, values))
    return out


class ShortcutMemo:
    """Windowed queries whose last answer came from raw points, with that answer's size in
    rows (bounded, least recently used forgotten first). Times are not part of the key: a
    dashboard's moving `-1d` range is one entry. A remembered query skips the count probe;
    its raw read is then capped at one point more than there are windows, so a series grown
    denser costs one bounded read, not all of its points, and the answer is still verified."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._rows: OrderedDict[Hashable, int] = OrderedDict()

    @staticmethod
    def _key(query: SeriesQuery) -> Hashable:
        where = tuple(sorted((k, tuple(v)) for k, v in query.where.items()))
        return (query.measurement, query.field, where, query.every_ns, query.aggregate)

    def get(self, query: SeriesQuery) -> int | None:
        """Rows of the query's last answer from raw points; None when not remembered."""
        key = self._key(query)
        rows = self._rows.get(key)
        if rows is not None:
            self._rows.move_to_end(key)
        return rows

    def remember(self, query: SeriesQuery, rows: int) -> None:
        key = self._key(query)
        self._rows[key] = rows
        self._rows.move_to_end(key)
        while len(self._rows) > self._size:
            self._rows.popitem(last=False)

    def forget(self, query: SeriesQuery) -> None:
        self._rows.pop(self._key(query), None)


def sort_series(measurement: str, series: list[Series]) -> list[Series]:
    """Series in the order of their measurement's series tags (the store's answer order)."""
    keys = SERIES_TAGS.get(measurement, ())
    return sorted(series, key=lambda s: tuple(s.tags.get(k, "") for k in keys))


def split_where(query: SeriesQuery, parts: int) -> list[SeriesQuery]:
    """The query as up to `parts` queries over disjoint shares of its longest `where` list.

    Every series has one value of that tag, so each matching series is in exactly one part
    and the parts' answers together are the query's answer (influxd runs them on separate
    cores). Without a list of two or more values the query is returned whole."""
    if parts < 2 or not query.where:
        return [query]
    key = max(sorted(query.where), key=lambda k: len(set(query.where[k])))
    values = sorted(set(query.where[key]))
    if len(values) < 2:
        return [query]
    return [
        replace(query, where={**query.where, key: values[i::parts]})
        for i in range(min(parts, len(values)))
    ]
