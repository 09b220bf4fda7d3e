"""Hostile sensor payloads: map_payload returns readings or raises SourcePayloadError with a
stable reason, never anything else (random bytes, random JSON, deep nesting, huge numbers)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peakline_core.config.profiles import MqttProfile
from peakline_core.wire import Quality
from peakline_edge.errors import SourcePayloadError
from peakline_edge.mqtt_source import map_payload

PROFILE = MqttProfile.model_validate(
    {
        "name": "air",
        "kind": "air_quality",
        "timestamp_field": "time",
        "fields": [
            {"name": "co2", "field": "co2", "unit": "ppm"},
            {"name": "temp", "field": "env.t"},
            {"name": "occupied", "field": "occupancy", "dtype": "bool"},
            {"name": "fw", "field": "fw", "dtype": "string"},
        ],
    }
)
NOW = 1_704_200_000_000_000_000
REASONS = {"oversize", "malformed", "not_object", "bad_timestamp"}
JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


def _check(payload: bytes) -> None:
    try:
        readings = map_payload(PROFILE, payload, NOW)
    except SourcePayloadError as exc:
        assert exc.reason in REASONS
        return
    for r in readings:
        assert r.point in {"co2", "temp", "occupied", "fw"}
        assert r.quality is Quality.GOOD or r.value is None
        assert NOW - 90 * 86400 * 10**9 <= r.ts <= NOW + 300 * 10**9


@given(st.binary(max_size=256))
def test_random_bytes(data: bytes) -> None:
    _check(data)


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from(["co2", "env", "occupancy", "fw", "time", "x"]), JSON))
def test_random_json_objects(obj: dict[str, object]) -> None:
    _check(json.dumps(obj).encode())


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[" * 10_000 + b"]" * 10_000, "malformed"),
        (b'{"co2": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "malformed"),
        (b'{"co2": 1e400}', "malformed"),
        (b'{"co2": NaN}', "malformed"),
        (b'{"fw": "\xff\xfe"}', "malformed"),
        (b" " * (1 << 20) + b"{}", "oversize"),
        (b'"text"', "not_object"),
        (b'{"co2": 1, "time": 1e300}', "bad_timestamp"),
        (b'{"co2": 1, "time": "9999-12-31T23:59:59"}', "bad_timestamp"),
        (b'{"co2": 1, "time": "0001-01-01T00:00:00+14:00"}', "bad_timestamp"),
        (b'{"co2": 1, "time": 0}', "bad_timestamp"),
    ],
)
def test_hostile_payload_reasons(payload: bytes, reason: str) -> None:
    with pytest.raises(SourcePayloadError) as caught:
        map_payload(PROFILE, payload, NOW)
    assert caught.value.reason == reason


def test_nested_or_huge_strings_are_error_readings() -> None:
    payload = json.dumps({"fw": [[1]], "co2": "x" * 10}).encode()
    assert {(r.point, r.quality) for r in map_payload(PROFILE, payload, NOW)} == {
        ("fw", Quality.ERROR),
        ("co2", Quality.ERROR),
    }
    [r] = map_payload(PROFILE, json.dumps({"fw": "é" * 2000}).encode(), NOW)
    assert r.quality is Quality.ERROR and r.value is None
