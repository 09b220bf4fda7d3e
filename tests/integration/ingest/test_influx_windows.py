"""Windowed reads on a real influxd: the raw-points shortcut answers what GROUP BY time does.

`InfluxStore.query` reads raw points when each window holds at most one value; these tests
compare it with influxd's own `GROUP BY time(...)` answer (the same statement the store
sent before the shortcut, run through `select`) and with the SQLite store, values and types.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from peakline_core.storage import Aggregate, Row, Series, SeriesQuery
from peakline_store import InfluxStore, SqliteStore
from peakline_store.influx_read import one_per_window
from peakline_store.influxql import range_query

S = 1_000_000_000
T0 = 1_699_999_980 * S  # a whole minute
MINUTE = 60 * S


def rows() -> list[Row]:
    """Two meters, about one value a minute at jittered (unaligned) times, with gaps, rows
    holding quality only, and one value per window of the int `quality` field."""
    out = []
    for n, device in enumerate(("m1", "m2")):
        tags = {"site": "s1", "device": device, "point": "p"}
        for i in range(40):
            ts = T0 + i * MINUTE + (i * 7919 + n * 13) % 59 * S + 123_456
            if i % 9 == 4:
                continue  # a gap: no point in this minute
            if i % 7 == 3:
                out.append(Row("reading", tags, {"quality": 2}, ts))  # error reading: no value
                continue
            out.append(Row("reading", tags, {"value": 10.0 * n + i / 3, "quality": i % 2}, ts))
    return out


@pytest.fixture
async def stores(influx_db: Any, tmp_path: Path) -> AsyncIterator[tuple[InfluxStore, SqliteStore]]:
    influx = InfluxStore(influx_db.url, influx_db.database)
    sqlite = SqliteStore(tmp_path / "store.db")
    try:
        await influx.write(rows())
        await sqlite.write(rows())
        yield influx, sqlite
    finally:
        await influx.aclose()
        await sqlite.aclose()


def typed(series: list[Series]) -> list[tuple[dict[str, str], list[int], list[Any], list[type]]]:
    return [
        (dict(s.tags), list(s.times), list(s.values), [type(v) for v in s.values]) for s in series
    ]


@pytest.mark.parametrize("aggregate", list(Aggregate))
@pytest.mark.parametrize("field", ["value", "quality"])
@pytest.mark.parametrize(
    ("start", "end"),
    [(T0, T0 + 40 * MINUTE), (T0 + 90 * S, T0 + 30 * MINUTE + 17)],  # aligned; unaligned ends
)
async def test_shortcut_equals_influxd_group_by_time_and_sqlite(
    stores: tuple[InfluxStore, SqliteStore], aggregate: Aggregate, field: str, start: int, end: int
) -> None:
    influx, sqlite = stores
    query = SeriesQuery(
        "reading", field, start, end, {"site": ["s1"]}, every_ns=MINUTE, aggregate=aggregate
    )
    raw = await influx.query(replace(query, every_ns=None))
    assert one_per_window(raw, MINUTE, aggregate) is not None  # the data takes the shortcut
    got = await influx.query(query)
    by_influxd = await influx.select(range_query(query), "reading")
    assert typed(got) == typed(by_influxd)
    if start == T0:  # 40 minutes, 4 gaps, 5 more minutes of quality-only rows
        assert [len(s.times) for s in got] == [{"value": 31, "quality": 36}[field]] * 2
    expected = await sqlite.query(query)
    assert [(s.tags, list(s.times)) for s in got] == [(s.tags, list(s.times)) for s in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert list(mine.values) == pytest.approx(list(theirs.values), rel=1e-12)


@pytest.mark.parametrize("aggregate", list(Aggregate))
async def test_two_values_in_one_window_fall_back_to_influxd(
    stores: tuple[InfluxStore, SqliteStore], aggregate: Aggregate
) -> None:
    influx, sqlite = stores
    extra = Row("reading", {"site": "s1", "device": "m1", "point": "p"}, {"value": 99.0}, T0 + 1)
    await influx.write([extra])
    await sqlite.write([extra])
    query = SeriesQuery(
        "reading", "value", T0, T0 + 40 * MINUTE, {"site": ["s1"]}, MINUTE, aggregate
    )
    got = await influx.query(query)
    assert typed(got) == typed(await influx.select(range_query(query), "reading"))
    # m1's first window now holds 99.0 at T0 + 1 ns and 0.0 at T0 + 123456 ns.
    two = {"mean": 49.5, "min": 0.0, "max": 99.0, "sum": 99.0, "count": 2, "last": 0.0}
    assert got[0].tags["device"] == "m1" and got[0].values[0] == two[aggregate.value]
    expected = await sqlite.query(query)
    assert [list(s.values) for s in got] == [
        pytest.approx(list(s.values), rel=1e-12) for s in expected
    ]


async def test_windows_larger_than_the_data_and_empty_ranges(
    stores: tuple[InfluxStore, SqliteStore],
) -> None:
    influx, _ = stores
    hourly = SeriesQuery("reading", "value", T0, T0 + 3600 * S, {}, every_ns=3600 * S)
    got = await influx.query(hourly)  # 30+ values per window: influxd aggregates
    assert typed(got) == typed(await influx.select(range_query(hourly), "reading"))
    assert [len(s.times) for s in got] == [1, 1]
    assert await influx.query(replace(hourly, start_ns=T0 - 7200 * S, end_ns=T0)) == []
    assert await influx.query(replace(hourly, field="nothing")) == []
    assert await influx.query(replace(hourly, where={"device": ["nowhere"]})) == []


async def test_a_remembered_query_still_falls_back_when_the_data_grows_denser(
    stores: tuple[InfluxStore, SqliteStore],
) -> None:
    influx, sqlite = stores
    query = SeriesQuery("reading", "value", T0, T0 + 40 * MINUTE, {"device": ["m2"]}, MINUTE)
    first = await influx.query(query)
    assert influx._shortcuts.get(query) == 31  # the next read skips the count probe
    assert typed(await influx.query(query)) == typed(first)
    # Now every minute of m2 gets 30 more values: the capped raw read proves two per window.
    tags = {"site": "s1", "device": "m2", "point": "p"}
    dense = [Row("reading", tags, {"value": float(i)}, T0 + i * 2 * S) for i in range(1200)]
    await influx.write(dense)
    await sqlite.write(dense)
    got = await influx.query(query)
    assert influx._shortcuts.get(query) is None
    assert typed(got) == typed(await influx.select(range_query(query), "reading"))
    assert len(got[0].times) == 40
    expected = await sqlite.query(query)
    assert list(got[0].values) == pytest.approx(list(expected[0].values), rel=1e-12)


@pytest.mark.parametrize("window_s", [60, 600])  # from raw points; by influxd's aggregation
async def test_reads_in_concurrent_parts_answer_the_same(
    stores: tuple[InfluxStore, SqliteStore], window_s: int
) -> None:
    influx, _ = stores
    query = SeriesQuery(
        "reading",
        "value",
        T0,
        T0 + 40 * MINUTE,
        {"site": ["s1"], "device": ["m2", "m1", "absent"]},
        every_ns=window_s * S,
    )
    whole = await influx.query(query)
    influx.split_rows = 0  # split every read
    influx._shortcuts.forget(query)
    parts = await influx.query(query)
    assert typed(parts) == typed(whole)
    assert [s.tags["device"] for s in parts] == ["m1", "m2"]
    influx.read_parallelism = 5
    assert typed(await influx.query(query)) == typed(whole)
