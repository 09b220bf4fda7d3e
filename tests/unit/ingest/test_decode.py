"""Ingest's telemetry decoder accepts exactly what the v1 contract's decoder accepts."""

from __future__ import annotations

import json
from typing import get_args

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peakline_core.errors import PayloadError
from peakline_core.wire import Quality, Reading, TelemetryBatch, decode_telemetry, encode
from peakline_ingest.decode import IngestBatch, IngestReading, TelemetryDecoder

NOW = 1_700_000_000_000_000_000

junk = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)  # fmt: skip
point = st.one_of(
    st.sampled_from(["p", "power_w", "temp.zone1", "a-b", "x" * 64, "x" * 65, "p\n", "", "p p"]),
    st.text(max_size=12),
)
reading = st.fixed_dictionaries(
    {"point": st.one_of(point, junk)},
    optional={
        "ts": st.one_of(st.integers(min_value=-5, max_value=2**64), junk),
        "value": st.one_of(
            st.floats(allow_nan=False, allow_infinity=False), st.integers(), st.booleans(),
            st.text(max_size=5), st.none(), junk,
        ),
        "quality": st.one_of(st.sampled_from(["good", "stale", "error", "bad", "GOOD"]), junk),
        "unit": st.one_of(st.text(max_size=40), st.none(), junk),
        "extra": junk,
    },
)  # fmt: skip
good_reading = st.fixed_dictionaries(
    {
        "point": st.one_of(st.sampled_from(["p", "power_w", "temp.zone1", "x" * 64]), point),
        "ts": st.integers(min_value=0, max_value=2**63 - 1),
        "value": st.one_of(
            st.floats(allow_nan=False, allow_infinity=False), st.integers(min_value=-(2**63),
            max_value=2**64), st.booleans(), st.text(max_size=5), st.none(),
        ),
    },
    optional={
        "quality": st.sampled_from(["good", "stale", "error"]),
        "unit": st.one_of(st.text(max_size=33), st.none()),
    },
)  # fmt: skip
batch = st.fixed_dictionaries(
    {
        "readings": st.one_of(
            st.lists(st.one_of(good_reading, good_reading, reading), max_size=4), junk
        )
    },
    optional={
        "v": st.one_of(st.sampled_from([1, 2, "1"]), junk),
        "agent": st.one_of(st.sampled_from(["a1", "a b", "a" * 65]), junk),
        "site": st.just("s1"),
        "device": st.one_of(st.just("m1"), junk),
        "seq": st.one_of(st.integers(min_value=-2, max_value=2**64), junk),
        "sent": st.one_of(st.integers(min_value=-1, max_value=NOW), junk),
        "more": junk,
    },
)


def outcome(decode, payload: bytes):  # type: ignore[no-untyped-def]
    try:
        got = decode(payload)
    except PayloadError as exc:
        return ("rejected", exc.reason, exc.detail)
    return ("accepted", msgspec.json.decode(msgspec.json.encode(got)))


@settings(max_examples=600, deadline=None)
@given(batch, st.booleans())
def test_same_outcome_as_the_contract(body, complete) -> None:
    if complete:  # mostly-valid batches, so that acceptance is exercised too
        body = {"v": 1, "agent": "a1", "site": "s1", "device": "m1", "seq": 1, "sent": NOW} | body
    payload = json.dumps(body).encode()
    decoder = TelemetryDecoder()
    assert outcome(decoder.decode, payload) == outcome(decode_telemetry, payload)
    # ... and again with the point names it has seen by now remembered.
    assert outcome(decoder.decode, payload) == outcome(decode_telemetry, payload)


@pytest.mark.parametrize(
    "payload",
    [
        b"{",
        b"\xff",
        b"[" * 5000 + b"]" * 5000,
        b" " * (1 << 20) + b"{}",
        b'{"v":1,"readings":1e999}',
    ],
)
def test_malformed_and_oversize_get_the_contract_reason(payload: bytes) -> None:
    assert outcome(TelemetryDecoder().decode, payload) == outcome(decode_telemetry, payload)


def test_schema_mirrors_the_contract() -> None:
    # A field added to or changed in the contract must be mirrored here (this fails until it is).
    differ = {"point", "quality", "readings"}  # checked elsewhere, or a mirrored type
    for ours, theirs in ((IngestBatch, TelemetryBatch), (IngestReading, Reading)):
        mine, contract = msgspec.structs.fields(ours), msgspec.structs.fields(theirs)
        assert [(f.name, f.encode_name, f.default) for f in mine] == [
            (f.name, f.encode_name, f.default) for f in contract
        ]
        assert [f.type for f in mine if f.name not in differ] == [
            f.type for f in contract if f.name not in differ
        ]
        assert (ours.__struct_config__.tag_field, ours.__struct_config__.tag) == (
            theirs.__struct_config__.tag_field, theirs.__struct_config__.tag
        )  # fmt: skip
    quality = next(f.type for f in msgspec.structs.fields(IngestReading) if f.name == "quality")
    assert set(get_args(quality)) == {q.value for q in Quality}


def test_known_points_are_bounded_and_a_refusal_falls_back_to_the_contract() -> None:
    decoder = TelemetryDecoder(known_points=3)
    for i in range(5):
        readings = [Reading(f"p{i}{j}", NOW, 1.0) for j in range(2)]
        decoder.decode(encode(TelemetryBatch("a1", "s1", "m1", i, NOW, readings)))
        assert len(decoder._known) <= 3

    class Refusing(TelemetryDecoder):
        def _points_valid(self, batch: IngestBatch) -> bool:
            return False

    payload = encode(
        TelemetryBatch("a1", "s1", "m1", 1, NOW, [Reading("p", NOW, "on", Quality.STALE, "W")])
    )
    assert Refusing().decode(payload) == TelemetryDecoder().decode(payload)
