"""One contract suite, run against both stores: SQLite (embedded) and a real influxd."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from peakline_core.storage import (
    Aggregate,
    Row,
    RowBlock,
    SeriesQuery,
    StoreRejected,
    StoreUnavailable,
    TotalsQuery,
)
from peakline_store import InfluxStore, SqliteStore

S = 1_000_000_000
T0 = 1_699_999_980 * S  # a whole minute, so 60 s buckets start at T0


def reading(site: str, device: str, point: str, ts: int, value: float, quality: int = 0) -> Row:
    return Row(
        "reading",
        {"site": site, "device": device, "point": point},
        {"value": value, "quality": quality},
        ts,
    )


def q(**kw: object) -> SeriesQuery:
    base: dict[str, object] = {
        "measurement": "reading",
        "field": "value",
        "start_ns": T0,
        "end_ns": T0 + 3600 * S,
    }
    return SeriesQuery(**(base | kw))  # type: ignore[arg-type]


async def test_raw_range_is_half_open_and_exact(store) -> None:
    rows = [reading("s1", "m1", "p", T0 + i * 10 * S, 0.1 * i + 1e-9) for i in range(12)]
    await store.write(rows)
    (series,) = await store.query(q(start_ns=T0 + 10 * S, end_ns=T0 + 110 * S))
    assert dict(series.tags) == {"site": "s1", "device": "m1", "point": "p"}
    assert list(series.times) == [T0 + i * 10 * S for i in range(1, 11)]
    assert list(series.values) == [0.1 * i + 1e-9 for i in range(1, 11)]


async def test_rewrite_overwrites_instead_of_duplicating(store) -> None:
    rows = [reading("s1", "m1", "p", T0 + i * S, float(i)) for i in range(5)]
    await store.write(rows)
    await store.write(rows)
    await store.write([reading("s1", "m1", "p", T0 + 2 * S, 42.5)])
    (series,) = await store.query(q())
    assert list(series.values) == [0.0, 1.0, 42.5, 3.0, 4.0]
    (quality,) = await store.query(q(field="quality"))
    assert list(quality.values) == [0, 0, 0, 0, 0]


async def test_a_subset_of_fields_merges_into_the_point(store) -> None:
    tags = {"site": "s1", "device": "m1", "point": "p"}
    await store.write([Row("reading", tags, {"value": 1.5}, T0)])
    await store.write([Row("reading", tags, {"quality": 1}, T0)])
    (value,) = await store.query(q())
    (quality,) = await store.query(q(field="quality"))
    assert (list(value.values), list(quality.values)) == ([1.5], [1])


async def test_where_filters_or_within_and_across_keys(store) -> None:
    rows = [
        reading(site, dev, "p", T0, float(n))
        for n, (site, dev) in enumerate([("s1", "a"), ("s1", "b"), ("s2", "a"), ("s2", "c")])
    ]
    await store.write(rows)
    got = await store.query(q(where={"site": ["s1", "s2"], "device": ["a"]}))
    assert [(s.tags["site"], s.tags["device"], list(s.values)) for s in got] == [
        ("s1", "a", [0.0]),
        ("s2", "a", [2.0]),
    ]
    assert await store.query(q(where={"site": []})) == []
    assert await store.query(q(where={"site": ["nowhere"]})) == []


async def test_where_with_many_values_matches_exactly_even_with_regex_characters(store) -> None:
    # From five values influxd is asked with one regex (cheaper than a long OR): every value
    # must match itself only, whatever regex or literal characters it holds.
    sites = ["a.b", "a-b", "x/y", "p|q", "c\\d", "(e)", "f*", "g+", "h?", "[i]", "^j$", "k"]
    decoys = ["axb", "a", "xy", "p", "q", "cd", "e", "ff", "gg", "i", "j", "kk", "a.bc"]
    await store.write([reading(s, "m", "p", T0, float(n)) for n, s in enumerate(sites + decoys)])
    for pick in (sites, sites[:5], sites[5:], ["k", "a.b", "a-b", "x/y", "nowhere"]):
        got = await store.query(q(where={"site": pick}))
        assert sorted(s.tags["site"] for s in got) == sorted(set(pick) & set(sites)), pick


async def test_totals_sum_several_fields_per_series_over_a_half_open_range(store) -> None:
    def energy(site: str, flow: str, ts: int, kwh: float, est: float) -> Row:
        fields = {"kwh": kwh, "estimated_kwh": est, "quality": "measured"}
        return Row("energy_1d", {"site": site, "flow": flow}, fields, ts)

    day = 86400 * S
    await store.write(
        [energy("s1", "import", T0 + i * day, 10.0 + i, 0.5) for i in range(5)]
        + [energy("s1", "export", T0 + i * day, 1.0, 0.0) for i in range(5)]
        + [energy("s2", "import", T0 + i * day, 2.0, 0.25) for i in range(5)]
        + [Row("energy_1d", {"site": "s3", "flow": "import"}, {"quality": "x"}, T0)]
    )
    got = await store.totals(
        TotalsQuery(
            "energy_1d", ("kwh", "estimated_kwh", "quality"), T0 + day, T0 + 4 * day,
            {"site": ["s1", "s2", "s3"]},
        )
    )  # fmt: skip
    assert sorted(((sorted(t.tags.items())), dict(t.sums)) for t in got) == [
        ([("flow", "export"), ("site", "s1")], {"kwh": 3.0, "estimated_kwh": 0.0}),
        ([("flow", "import"), ("site", "s1")], {"kwh": 36.0, "estimated_kwh": 1.5}),
        ([("flow", "import"), ("site", "s2")], {"kwh": 6.0, "estimated_kwh": 0.75}),
    ]  # a string field sums to nothing; s3 (no number in range) is absent
    only = await store.totals(TotalsQuery("energy_1d", ("kwh",), T0, T0 + day, {"site": ["s2"]}))
    assert [(dict(t.tags), dict(t.sums)) for t in only] == [
        ({"flow": "import", "site": "s2"}, {"kwh": 2.0})
    ]
    assert await store.totals(TotalsQuery("energy_1d", ("kwh",), T0, T0 + day, {"site": []})) == []


async def test_totals_over_minutes_sum_per_series_like_a_long_range(store) -> None:
    # A range of up to two hours (the minutes at a report's ends) is summed by influxd per
    # series (`GROUP BY`), a longer one by the caller: both answer the same shape.
    def minute(site: str, flow: str, ts: int, kwh: float) -> Row:
        fields = {"kwh": kwh, "suspect_kwh": 0.0, "quality": "measured"}
        return Row("energy", {"site": site, "device": f"{site}-m", "flow": flow}, fields, ts)

    await store.write(
        [minute("s1", "import", T0 + i * 60 * S, 0.5) for i in range(90)]
        + [minute("s1", "export", T0 + i * 60 * S, 0.25) for i in range(90)]
        + [minute("s2", "import", T0 + i * 60 * S, 1.0) for i in range(90)]
        + [Row("energy", {"site": "s3", "device": "s3-m", "flow": "import"}, {"quality": "x"}, T0)]
    )
    where = {"site": ["s1", "s2", "s3"]}
    for lo, hi, n in ((T0, T0 + 3600 * S, 60), (T0 + 30 * 60 * S, T0 + 40 * 60 * S, 10)):
        fields = ("kwh", "suspect_kwh", "quality")  # a string field sums to nothing
        got = await store.totals(TotalsQuery("energy", fields, lo, hi, where))
        assert sorted((sorted(t.tags.items()), dict(t.sums)) for t in got) == [
            ([("device", "s1-m"), ("flow", "export"), ("site", "s1")],
             {"kwh": 0.25 * n, "suspect_kwh": 0.0}),
            ([("device", "s1-m"), ("flow", "import"), ("site", "s1")],
             {"kwh": 0.5 * n, "suspect_kwh": 0.0}),
            ([("device", "s2-m"), ("flow", "import"), ("site", "s2")],
             {"kwh": 1.0 * n, "suspect_kwh": 0.0}),
        ], (lo, hi)  # fmt: skip


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [
        (Aggregate.MEAN, [2.0, 7.0]),
        (Aggregate.MIN, [0.0, 5.0]),
        (Aggregate.MAX, [4.0, 9.0]),
        (Aggregate.SUM, [10.0, 35.0]),
        (Aggregate.COUNT, [5, 5]),
        (Aggregate.LAST, [4.0, 9.0]),
    ],
)
async def test_time_bucket_aggregation(store, aggregate: Aggregate, expected: list[float]) -> None:
    # Ten points 12 s apart from T0: two 60 s buckets of five each, the write order shuffled.
    rows = [
        reading("s1", "m1", "p", T0 + i * 12 * S, float(i)) for i in (3, 0, 9, 1, 5, 7, 2, 4, 6, 8)
    ]
    await store.write(rows)
    (series,) = await store.query(q(every_ns=60 * S, aggregate=aggregate))
    assert list(series.times) == [T0, T0 + 60 * S]
    assert list(series.values) == expected


async def test_limit_applies_per_series(store) -> None:
    rows = [reading("s1", d, "p", T0 + i * S, float(i)) for d in ("a", "b") for i in range(5)]
    await store.write(rows)
    got = await store.query(q(limit=2))
    assert [(s.tags["device"], list(s.values)) for s in got] == [
        ("a", [0.0, 1.0]),
        ("b", [0.0, 1.0]),
    ]


async def test_latest_value_per_series(store) -> None:
    rows = [
        reading("s1", d, "p", T0 + i * S, float(i) + off)
        for d, off in (("a", 0), ("b", 100))
        for i in (3, 1, 4, 0)
    ]
    rows.append(reading("s2", "c", "p", T0 - 3600 * S, -1.0))
    await store.write(rows)
    got = await store.latest("reading", "value", {"site": ["s1"]})
    assert [(s.tags["device"], list(s.times), list(s.values)) for s in got] == [
        ("a", [T0 + 4 * S], [4.0]),
        ("b", [T0 + 4 * S], [104.0]),
    ]
    every = await store.latest("reading", "value", {})
    assert [s.tags["device"] for s in every] == ["a", "b", "c"]


async def test_other_measurements_and_field_types(store) -> None:
    tags = {"site": "s1", "device": "m1", "point": "p", "kind": "spike"}
    await store.write(
        [
            Row(
                "anomaly_event",
                tags,
                {"event_id": "ev-1", "state": "open", "end": 0, "peak_score": 0.9},
                T0,
            ),
            Row("energy", {"site": "s1", "flow": "import"}, {"kwh": 12.25}, T0),
            Row("carbon_intensity", {"region": "GB"}, {"g_per_kwh": 180.0}, T0),
        ]
    )
    (ev,) = await store.latest("anomaly_event", "event_id", {"site": ["s1"]})
    assert (dict(ev.tags), list(ev.values)) == (tags, ["ev-1"])
    (end,) = await store.latest("anomaly_event", "end", {})
    assert list(end.values) == [0]
    (energy,) = await store.query(q(measurement="energy", field="kwh"))
    assert (dict(energy.tags), list(energy.values)) == ({"site": "s1", "flow": "import"}, [12.25])


async def test_blocks_store_what_rows_store(store) -> None:
    series = [{"site": "s1", "device": "m1", "point": p} for p in ("a", "b")]
    block = RowBlock(
        "reading",
        series,
        np.array([0, 1, 0, 1], dtype=np.intp),
        {
            "value": np.array([1.0, np.nan, 3.0, 4.0]),
            "quality": np.array([0, 2, 0, 1], dtype=np.int64),
            "text": np.array([None, None, "on", None], dtype=object),
        },
        np.array([T0, T0, T0 + S, T0 + S], dtype=np.int64),
    )
    await store.write_blocks([block])
    got = await store.query(q())
    assert [(s.tags["point"], list(s.times), list(s.values)) for s in got] == [
        ("a", [T0, T0 + S], [1.0, 3.0]),
        ("b", [T0 + S], [4.0]),
    ]
    quality = await store.query(q(field="quality"))
    assert [list(s.values) for s in quality] == [[0, 0], [2, 1]]
    (text,) = await store.query(q(field="text"))
    assert (text.tags["point"], list(text.values)) == ("a", ["on"])


async def test_unknown_measurement_is_rejected(store) -> None:
    with pytest.raises(StoreRejected):
        await store.write([Row("nonsense", {}, {"x": 1.0}, T0)])


async def test_empty_store_answers_empty(store) -> None:
    assert await store.query(q()) == []
    assert await store.latest("reading", "value", {}) == []
    await store.ping()


async def test_influx_down_is_unavailable_and_recovers(fresh_influxd) -> None:
    store = InfluxStore(fresh_influxd.url, "d")
    try:
        await store.ensure_database()
        fresh_influxd.stop()
        with pytest.raises(StoreUnavailable):
            await store.write([reading("s1", "m1", "p", T0, 1.0)])
        with pytest.raises(StoreUnavailable):
            await store.ping()
        fresh_influxd.start()
        await store.write([reading("s1", "m1", "p", T0, 1.0)])
        (series,) = await store.query(q())
        assert list(series.values) == [1.0]
    finally:
        await store.aclose()


async def test_influx_bad_data_is_rejected_not_retried(influx_db) -> None:
    store = InfluxStore(influx_db.url, influx_db.database)
    try:
        await store.write([reading("s1", "m1", "p", T0, 1.0)])
        # Same field, other type: InfluxDB refuses it with 400 (field type conflict).
        with pytest.raises(StoreRejected):
            await store.write(
                [
                    Row(
                        "reading",
                        {"site": "s1", "device": "m1", "point": "p"},
                        {"value": "x"},
                        T0 + S,
                    )
                ]
            )
    finally:
        await store.aclose()


async def test_sqlite_reader_and_writer_share_one_file(tmp_path: Path) -> None:
    writer = SqliteStore(tmp_path / "s.db")
    reader = SqliteStore(tmp_path / "s.db")
    try:
        await writer.write([reading("s1", "m1", "p", T0, 1.0)])
        assert [list(s.values) for s in await reader.query(q())] == [[1.0]]
        await writer.write([reading("s1", "m2", "p", T0, 2.0)])
        assert [s.tags["device"] for s in await reader.latest("reading", "value", {})] == [
            "m1",
            "m2",
        ]
    finally:
        await writer.aclose()
        await reader.aclose()
