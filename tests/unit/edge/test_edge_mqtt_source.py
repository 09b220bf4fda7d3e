"""Mapping MQTT sensors' JSON to readings (pure)."""

from __future__ import annotations

import pytest

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
            {"name": "temp", "field": "env.temperature", "unit": "C", "scale": 0.1},
            {"name": "occupied", "field": "occupancy", "dtype": "bool"},
            {"name": "fw", "field": "fw", "dtype": "string"},
        ],
    }
)
NOW = 1_704_200_000_000_000_000  # 2024-01-02T12:53:20Z


def test_fields_map_to_points_with_scale_units_and_source_time() -> None:
    payload = b'{"co2": 612, "env": {"temperature": 215}, "occupancy": true, "fw": "1.2",'
    payload += b' "time": "2024-01-02T03:04:05Z", "extra": 1}'
    readings = {r.point: r for r in map_payload(PROFILE, payload, NOW)}
    assert readings["co2"].value == 612.0 and readings["co2"].unit == "ppm"
    assert readings["temp"].value == pytest.approx(21.5)
    assert readings["occupied"].value is True
    assert readings["fw"].value == "1.2"
    assert {r.ts for r in readings.values()} == {1704164645 * 10**9}


def test_epoch_seconds_and_missing_time() -> None:
    [r] = map_payload(PROFILE, b'{"co2": 1, "time": 1700000000.5}', NOW)
    assert r.ts == 1_700_000_000_500_000_000
    [r] = map_payload(PROFILE, b'{"co2": 1}', NOW)
    assert r.ts == NOW


def test_wrong_type_is_an_error_reading_and_missing_fields_are_skipped() -> None:
    readings = map_payload(PROFILE, b'{"co2": "high", "occupancy": 1}', NOW)
    assert [(r.point, r.quality, r.value) for r in readings] == [
        ("co2", Quality.ERROR, None),
        ("occupied", Quality.GOOD, True),
    ]


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'{"co2": 1, "time": "yesterday"}'])
def test_bad_payloads_raise(payload: bytes) -> None:
    with pytest.raises(SourcePayloadError):
        map_payload(PROFILE, payload, NOW)
