"""Line-protocol encoder: cross-checked against influxdb-client's Point, and on hostile strings."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peakline_core.storage import (
    LineProtocolError,
    Row,
    RowBlock,
    SeriesKeys,
    encode_block,
    encode_rows,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from influxdb_client import Point


def reference(measurement: str, tags: dict[str, str], fields: dict[str, object], ts: int) -> str:
    p = Point(measurement)
    for k, v in tags.items():
        p.tag(k, v)
    for k, v in fields.items():
        p.field(k, v)
    return p.time(ts).to_line_protocol()


# Names with an exact encoding: no line breaks, not empty, no trailing backslash.
name = st.text(min_size=1, max_size=20).filter(
    lambda s: "\n" not in s and "\r" not in s and not s.endswith("\\")
)
# influxdb-client rewrites a tab in names to the two characters `\t` (which InfluxDB then
# stores as such); we keep the tab (exact, checked against influxd in the integration tests).
ref_name = name.filter(lambda s: "\t" not in s)
measurement = name.filter(lambda s: not s.startswith("#"))
field_value = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.text(max_size=30),
)


@settings(max_examples=400, deadline=None)
@given(
    measurement.filter(lambda s: "\t" not in s),
    st.dictionaries(ref_name, ref_name, max_size=4),
    st.dictionaries(ref_name, field_value, min_size=1, max_size=4),
    st.integers(min_value=0, max_value=2**63 - 1),
)
def test_rows_match_influxdb_client(m, tags, fields, ts) -> None:
    # influxdb-client drops empty tag values; ours never sees them (tags are required ids).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = reference(m, tags, fields, ts)
    assert encode_rows([Row(m, tags, fields, ts)]).decode() == expected + "\n"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(name, name), min_size=1, max_size=5, unique=True),
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=4),
            st.floats(allow_infinity=False),
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.one_of(st.none(), st.text(max_size=10)),
            st.integers(min_value=0, max_value=2**63 - 1),
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_block_matches_rows(series, rows) -> None:
    tags = [{"device": d, "point": p} for d, p in series]
    rows = [(i % len(series), v, q, t, ts) for i, v, q, t, ts in rows]
    block = RowBlock(
        "reading",
        tags,
        np.array([r[0] for r in rows], dtype=np.intp),
        {
            "value": np.array([r[1] for r in rows], dtype=np.float64),
            "quality": np.array([r[2] for r in rows], dtype=np.int64),
            "text": np.array([r[3] for r in rows], dtype=object),
        },
        np.array([r[4] for r in rows], dtype=np.int64),
    )
    as_rows = [
        Row(
            "reading",
            tags[s],
            {"quality": q}
            | ({} if math.isnan(v) else {"value": v})
            | ({} if t is None else {"text": t}),
            ts,
        )
        for s, v, q, t, ts in rows
    ]
    assert encode_block(block) == encode_rows(as_rows)


def test_examples() -> None:
    row = Row(
        "my meas,x",
        {"tag key": "a=b,c d", "b": 'q"\\u'},
        {"f,1": 1.0, "i": 3, "s": 'he said "hi"\\', "ok": True},
        5,
    )
    assert encode_rows([row]) == (
        b'my\\ meas\\,x,b=q"\\u,tag\\ key=a\\=b\\,c\\ d f\\,1=1,i=3i,ok=true,s="he said \\"hi\\"\\\\" 5\n'  # noqa: E501
    )
    assert (
        encode_rows([Row("m", {"t": "ü€"}, {"v": 1e300, "w": 0.1}, 1)])
        == "m,t=ü€ v=1e+300,w=0.1 1\n".encode()
    )


@pytest.mark.parametrize(
    "row",
    [
        Row("m", {"t": "a\nb"}, {"v": 1.0}, 1),
        Row("m", {"t": "trailing\\"}, {"v": 1.0}, 1),
        Row("m", {"t": ""}, {"v": 1.0}, 1),
        Row("#comment", {}, {"v": 1.0}, 1),
        Row("m", {}, {"v": math.inf}, 1),
        Row("m", {}, {}, 1),
        Row("m", {}, {"v": math.nan}, 1),
    ],
)
def test_unrepresentable_input_raises(row: Row) -> None:
    with pytest.raises(LineProtocolError):
        encode_rows([row])


def test_block_rejects_infinity_and_rows_without_fields() -> None:
    def block(values: list[float]) -> RowBlock:
        return RowBlock(
            "m", [{"t": "a"}], np.zeros(len(values), dtype=np.intp),
            {"v": np.array(values)}, np.arange(len(values), dtype=np.int64),
        )  # fmt: skip

    with pytest.raises(LineProtocolError):
        encode_block(block([1.0, math.inf]))
    with pytest.raises(LineProtocolError):
        encode_block(block([1.0, math.nan]))
    assert encode_block(block([1.5, 2.0])) == b"m,t=a v=1.5 0\nm,t=a v=2 1\n"


# Values as meters send them (a few decimal places), where the block encoder writes digits
# with integer arithmetic instead of repr: each must be repr's text exactly.
decimal_value = st.builds(
    lambda x, k, neg: (-1.0 if neg else 1.0) * x / 10.0**k,
    st.integers(min_value=0, max_value=10**16),
    st.integers(min_value=0, max_value=9),
    st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(decimal_value, st.floats(allow_nan=False, allow_infinity=False)), min_size=1
    ),
    st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=4),
    st.integers(min_value=1, max_value=200),
)
def test_block_float_text_is_repr_on_long_blocks(values, stamps, run) -> None:
    # Long blocks with runs of equal stamps and qualities take the run-length path too.
    n = max(len(values), 65)
    value = np.resize(np.array(values, dtype=np.float64), n)
    ts = np.resize(np.repeat(np.array(stamps, dtype=np.int64), run), n)
    quality = np.resize(np.array(stamps[::-1], dtype=np.int64), n)
    block = RowBlock(
        "reading",
        [{"device": "d"}],
        np.zeros(n, dtype=np.intp),
        {"value": value, "quality": quality},
        ts,
    )
    as_rows = [
        Row("reading", {"device": "d"}, {"value": v, "quality": q}, t)
        for v, q, t in zip(value.tolist(), quality.tolist(), ts.tolist(), strict=True)
    ]
    out = encode_block(block)
    assert out == encode_rows(as_rows)
    for line, v in zip(out.decode().splitlines(), value.tolist(), strict=True):
        assert float(line.split("value=")[1].split(" ")[0]) == v


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(name, name), min_size=1, max_size=6, unique=True),
    st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=20),
    st.integers(min_value=1, max_value=4),
)
def test_series_keys_cached_across_blocks_give_the_same_bytes(series, picks, limit) -> None:
    keys = SeriesKeys(limit=limit)
    for start in range(3):  # later blocks hit (and overflow) what earlier ones cached
        tags = [{"device": d, "point": p} for d, p in series[start:] or series]
        index = np.array([i % len(tags) for i in picks], dtype=np.intp)
        block = RowBlock(
            "reading", tags, index,
            {"value": np.arange(len(picks), dtype=np.float64) / 8},
            np.arange(len(picks), dtype=np.int64),
        )  # fmt: skip
        assert encode_block(block, keys) == encode_block(block)
        assert len(keys) <= limit


def test_series_keys_do_not_cache_unencodable_names() -> None:
    keys = SeriesKeys()
    with pytest.raises(LineProtocolError):
        keys.key("reading", {"device": "bad\n"})
    with pytest.raises(LineProtocolError):
        keys.key("reading", {"device": "bad\n"})
    assert len(keys) == 0
    assert keys.key("reading", {"device": "a b"}) == b"reading,device=a\\ b "
