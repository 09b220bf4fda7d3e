"""GridSignals: a grid-intensity message becomes one `carbon_intensity` row, or a reason."""

from __future__ import annotations

import json

import pytest

from peakline_core.storage.schema import CARBON_INTENSITY
from peakline_core.wire import Topics
from peakline_ingest.grid import GridSignals
from peakline_ingest.validate import Limits, Rejected

NOW = 1_790_000_000 * 1_000_000_000
TOPICS = Topics("pl")


def body(**kw: object) -> bytes:
    base: dict[str, object] = {"region": "CN-EAST", "ts": NOW, "intensity_g_per_kwh": 551.5}
    return json.dumps(base | kw).encode()


def test_a_point_becomes_a_row() -> None:
    grid = GridSignals(TOPICS, {"CN-EAST"})
    assert grid.owns("pl/v1/grid/CN-EAST") and not grid.owns("pl/v1/tele/s/d")
    row = grid.row(TOPICS.grid("CN-EAST"), body(ts="2026-09-21T22:13:20+08:00"), NOW)
    assert row.measurement == CARBON_INTENSITY
    assert row.tags == {"region": "CN-EAST"}
    assert row.fields == {"g_per_kwh": 551.5}
    assert row.ts == NOW  # 22:13:20 in Shanghai is 14:13:20 UTC


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("pl/v1/grid/CN-EAST", b"{", "grid_bad_json"),
        ("pl/v1/grid/CN-EAST", b"[1]", "grid_bad_shape"),
        ("pl/v1/grid/CN-EAST", json.dumps({"region": "CN-EAST"}).encode(), "grid_missing_field"),
        ("pl/v1/grid/CN-EAST", body(intensity_g_per_kwh="high"), "grid_bad_value"),
        ("pl/v1/grid/CN-EAST", body(intensity_g_per_kwh=9000), "grid_bad_value"),
        ("pl/v1/grid/CN-EAST", body(ts="yesterday"), "grid_bad_ts"),
        ("pl/v1/grid/CN-EAST", body(region="US-NEWE"), "topic_mismatch"),
        ("pl/v1/grid/CN-SOUTH", body(region="CN-SOUTH"), "unknown_region"),
        ("pl/v1/grid/a/b", body(), "bad_topic"),
        ("other/v1/grid/CN-EAST", body(), "bad_topic"),
        ("pl/v1/grid/CN-EAST", body(ts=NOW + 3600 * 10**9), "timestamp_future"),
        ("pl/v1/grid/CN-EAST", body(ts=NOW - 100 * 86400 * 10**9), "timestamp_past"),
    ],
)
def test_bad_messages_are_refused_with_a_reason(topic: str, payload: bytes, reason: str) -> None:
    grid = GridSignals(TOPICS, {"CN-EAST", "US-NEWE"}, Limits())
    with pytest.raises(Rejected) as info:
        grid.row(topic, payload, NOW)
    assert info.value.reason == reason


def test_without_a_config_any_region_is_taken() -> None:
    row = GridSignals(TOPICS).row(TOPICS.grid("XX-1"), body(region="XX-1"), NOW)
    assert row.tags == {"region": "XX-1"}
