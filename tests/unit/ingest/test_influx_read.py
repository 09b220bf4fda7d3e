"""InfluxDB answer decoding and the one-value-per-window shortcut, against a reference."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from peakline_core.storage import (
    Aggregate,
    Series,
    SeriesQuery,
    StoreRejected,
    StoreTruncated,
    StoreUnavailable,
)
from peakline_store.influx_read import (
    ACCEPT,
    ShortcutMemo,
    decode_answer,
    one_per_window,
    split_where,
    window_count,
)

S = 1_000_000_000
ANSWER: dict[str, Any] = {
    "results": [
        {
            "statement_id": 0,
            "series": [
                {
                    "name": "reading",
                    "tags": {"site": "s1", "device": "m2", "point": "p"},
                    "columns": ["time", "value"],
                    "values": [[10, 1.5], [20, None], [30, 2]],
                },
                {
                    "name": "reading",
                    "tags": {"site": "s1", "device": "m1", "point": "p", "kind": ""},
                    "columns": ["time", "value"],
                    "values": [[5, "on"], [6, True]],
                },
                {"name": "reading", "tags": {"site": "s1", "device": "m0", "point": "p"}},
                {
                    "name": "reading",
                    "tags": {"site": "s0", "device": "m9", "point": "p"},
                    "columns": ["time", "value"],
                    "values": [[1, None]],
                },
            ],
        }
    ]
}


def as_tuples(series: list[Series]) -> list[tuple[dict[str, str], list[int], list[Any]]]:
    return [(dict(s.tags), list(s.times), list(s.values)) for s in series]


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [
        (ACCEPT, msgspec.msgpack.encode),
        ("application/json", msgspec.json.encode),  # a server that ignores Accept
        ("", msgspec.json.encode),
    ],
)
def test_decode_drops_nulls_empty_tags_and_empty_series_and_sorts(
    content_type: str, encode: Any
) -> None:
    got = decode_answer(content_type, encode(ANSWER), "reading")
    assert as_tuples(got) == [
        ({"site": "s1", "device": "m1", "point": "p"}, [5, 6], ["on", True]),
        ({"site": "s1", "device": "m2", "point": "p"}, [10, 30], [1.5, 2]),
    ]
    assert [type(v) for v in got[1].values] == [float, int]


def test_decode_errors() -> None:
    missing = {"results": [{"statement_id": 0, "error": "database not found: x"}]}
    assert decode_answer(ACCEPT, msgspec.msgpack.encode(missing), "reading") == []
    assert decode_answer(ACCEPT, msgspec.msgpack.encode({"results": []}), "reading") == []
    bad = {"results": [{"statement_id": 0, "error": "unsupported mean iterator type"}]}
    with pytest.raises(StoreRejected, match="unsupported mean"):
        decode_answer(ACCEPT, msgspec.msgpack.encode(bad), "reading")
    with pytest.raises(StoreRejected, match="parsing"):
        decode_answer("application/json", b'{"error": "error parsing query"}', "reading")
    with pytest.raises(StoreUnavailable):
        decode_answer("text/html", b"<html>502 Bad Gateway</html>", "reading")
    with pytest.raises(StoreUnavailable):
        decode_answer(ACCEPT, b"\xc1\x00", "reading")


@pytest.mark.parametrize("where", ["series", "result"])
def test_decode_refuses_an_answer_cut_at_the_row_limit(where: str) -> None:
    """influxd 1.x marks the series it cut at `[http] max-row-limit` `partial` (later
    versions mark the statement's result too); either mark refuses the whole answer."""
    answer: dict[str, Any] = {
        "results": [
            {
                "statement_id": 0,
                "series": [
                    {"name": "reading", "tags": {"site": "s1", "device": "m1", "point": "p"},
                     "columns": ["time", "value"], "values": [[1, 1.0], [2, 2.0]]},
                ],
            }
        ]
    }  # fmt: skip
    target = answer["results"][0] if where == "result" else answer["results"][0]["series"][0]
    target["partial"] = True
    with pytest.raises(StoreTruncated, match="after 2 rows"):
        decode_answer(ACCEPT, msgspec.msgpack.encode(answer), "reading")
    target["partial"] = False
    assert len(decode_answer(ACCEPT, msgspec.msgpack.encode(answer), "reading")) == 1


def test_window_count() -> None:
    assert window_count(0, 60 * S, 60 * S) == 1
    assert window_count(1, 60 * S + 1, 60 * S) == 2
    assert window_count(30 * S, 90 * S, 60 * S) == 2
    assert window_count(0, 86400 * S, 60 * S) == 1440
    assert window_count(5, 5, S) == 0


def reference(
    times: list[int], values: list[float | int], every: int, aggregate: Aggregate
) -> tuple[list[int], list[Any], bool]:
    """influxd's GROUP BY time(every) fill(none), by brute force; and whether every window
    holds at most one value."""
    windows: dict[int, list[float | int]] = {}
    for t, v in zip(times, values, strict=True):
        windows.setdefault(t - t % every, []).append(v)
    starts = sorted(windows)
    fn = {
        Aggregate.MEAN: lambda vs: sum(vs) / len(vs),
        Aggregate.MIN: min,
        Aggregate.MAX: max,
        Aggregate.SUM: sum,
        Aggregate.LAST: lambda vs: vs[-1],
        Aggregate.COUNT: len,
    }[aggregate]
    single = all(len(vs) == 1 for vs in windows.values())
    return starts, [fn(windows[s]) for s in starts], single


number = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64), st.integers(-(2**53), 2**53)
)


@given(
    st.lists(st.integers(-(10**12), 10**12), unique=True, max_size=30).map(sorted),
    st.data(),
    st.sampled_from([1, 7, 60 * S, 1000]),
    st.sampled_from(list(Aggregate)),
)
def test_one_per_window_is_the_aggregate_or_declines(
    times: list[int], data: st.DataObject, every: int, aggregate: Aggregate
) -> None:
    values = data.draw(st.lists(number, min_size=len(times), max_size=len(times)))
    got = one_per_window([Series({"d": "x"}, times, values)], every, aggregate)
    starts, expected, single = reference(times, values, every, aggregate)
    if not single:
        assert got is None
        return
    assert got is not None
    [series] = got
    assert list(series.times) == starts
    assert list(series.values) == expected
    assert [type(v) for v in series.values] == [type(v) for v in expected]


def test_one_per_window_declines_other_types_and_keeps_aligned_times() -> None:
    for odd in ("on", True, None):
        assert one_per_window([Series({}, [0, 60], [1.0, odd])], 60, Aggregate.LAST) is None
    times = [0, 60, 180]
    [s] = one_per_window([Series({}, times, [1, 2.5, 3])], 60, Aggregate.MEAN) or []
    assert (list(s.times), list(s.values)) == (times, [1.0, 2.5, 3.0])
    assert one_per_window([], 60, Aggregate.MEAN) == []


def test_shortcut_memo_ignores_times_forgets_and_is_bounded() -> None:
    memo = ShortcutMemo(size=2)

    def query(device: str, start: int = 0) -> SeriesQuery:
        return SeriesQuery("reading", "value", start, start + 3600 * S, {"device": [device]}, S)

    memo.remember(query("a"), 10)
    assert memo.get(query("a", start=60 * S)) == 10  # a moving range is the same query
    assert memo.get(query("b")) is None
    assert memo.get(replace(query("a"), aggregate=Aggregate.MAX)) is None
    memo.remember(query("b"), 20)
    assert memo.get(query("a")) == 10  # used: now the most recent
    memo.remember(query("c"), 30)
    assert [memo.get(query(d)) for d in "abc"] == [10, None, 30]
    memo.forget(query("a"))
    memo.forget(query("b"))
    assert memo.get(query("a")) is None


def test_split_where_shares_the_longest_list_disjointly() -> None:
    base = SeriesQuery("reading", "value", 0, S, {"site": ["s"], "point": ["c", "a", "b", "a"]})
    parts = split_where(base, 2)
    assert [dict(p.where) for p in parts] == [
        {"site": ["s"], "point": ["a", "c"]},
        {"site": ["s"], "point": ["b"]},
    ]
    assert all(replace(p, where=base.where) == base for p in parts)
    assert split_where(base, 1) == [base]
    assert len(split_where(base, 8)) == 3  # never more parts than values
    single = replace(base, where={"site": ["s"], "point": ["a"]})
    assert split_where(single, 2) == [single]
    assert split_where(replace(base, where={}), 2) == [replace(base, where={})]
