"""Grid carbon intensity over MQTT into influxd: `{prefix}/v1/grid/{region}` points are stored
as `carbon_intensity`, bad ones are dead-lettered with a reason, and telemetry flows on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peakline_core.wire import Topics
from peakline_testing.waiting import wait_until
from tests.integration.ingest.support import (
    Publisher,
    influx_count,
    influxql,
    ingest_args,
    make_batch,
    metric,
    start,
    store_url,
    telemetry,
)

T0 = 1_700_000_000 * 1_000_000_000
MIN = 60 * 1_000_000_000
pytestmark = pytest.mark.timeout(300)


def point(region: str, ts: int | str, value: object) -> bytes:
    return json.dumps({"region": region, "ts": ts, "intensity_g_per_kwh": value}).encode()


def stored_intensity(db: object) -> dict[tuple[str, int], float]:
    out = influxql(db, 'SELECT "g_per_kwh" FROM "carbon_intensity" GROUP BY "region"')
    got = {}
    for series in out["results"][0].get("series", []):
        for t, v in series["values"]:
            got[(series["tags"]["region"], t)] = v
    return got


def test_grid_points_are_stored_and_bad_ones_dead_lettered(
    mosquitto, influx_db, topic_prefix, tmp_path: Path
) -> None:
    topics = Topics(topic_prefix)
    east, newe = topics.grid("CN-EAST"), topics.grid("US-NEWE")
    good = [
        (east, point("CN-EAST", T0, 612.5)),
        (east, point("CN-EAST", "2023-11-14T22:18:20Z", 540.0)),  # = T0 + 5 min, ISO 8601
        (newe, point("US-NEWE", T0 + 5 * MIN, 243.1)),
    ]
    bad = [
        (east, b"not json"),
        (east, point("US-NEWE", T0, 250.0)),  # payload for another region than the topic
        (east, point("CN-EAST", T0, -3)),  # below zero
        (east, point("CN-EAST", "2023-11-14 22:13", 500)),  # no offset: ambiguous
        (east, json.dumps({"region": "CN-EAST", "ts": T0}).encode()),  # no value
        (f"{topics.root}/grid/CN EAST", point("CN EAST", T0, 500)),  # not an id
    ]
    args = ingest_args(mosquitto.url, store_url(influx_db), topic_prefix, tmp_path / "state")
    proc, port = start(args, tmp_path, "w1")
    pub = Publisher(mosquitto.url)
    try:
        pub.publish(bad + good)
        wait_until(lambda: len(stored_intensity(influx_db)) >= 3, 60, "three grid points stored")
        assert stored_intensity(influx_db) == {
            ("CN-EAST", T0): 612.5,
            ("CN-EAST", T0 + 5 * MIN): 540.0,
            ("US-NEWE", T0 + 5 * MIN): 243.1,
        }
        # Points older than the deriver's lateness (all of these) carry a `late_data` mark,
        # written with the point, so the deriver re-prices their hours.
        marks = influxql(influx_db, 'SELECT "from_ns" FROM "late_data" GROUP BY "device"')
        assert {
            (m["tags"]["device"], v[1]) for m in marks["results"][0]["series"] for v in m["values"]
        } == {("grid:CN-EAST", T0), ("grid:CN-EAST", T0 + 5 * MIN), ("grid:US-NEWE", T0 + 5 * MIN)}
        wait_until(
            lambda: metric(port, "peakline_ingest_rejects_total") >= len(bad), 30, "rejections"
        )
        # Counted once the write returns, a moment after influxd shows the row.
        wait_until(lambda: metric(port, "peakline_ingest_grid_points_total") >= 3, 30, "counted")
        assert metric(port, "peakline_ingest_grid_points_total") == 3
        # The service keeps running, and telemetry is stored as before.
        pub.publish(telemetry(topics, [make_batch("a1", "s1", "m1", 0, 10, T0)]))
        wait_until(lambda: influx_count(influx_db) >= 10, 60, "telemetry after the grid points")
        assert proc.proc.poll() is None  # type: ignore[union-attr]
    finally:
        pub.close()
        assert proc.terminate() == 0, proc.log


def test_a_region_no_site_is_in_is_refused_with_a_config(
    mosquitto, influx_db, topic_prefix, tmp_path: Path, repo_root: Path
) -> None:
    topics = Topics(topic_prefix)
    args = ingest_args(mosquitto.url, store_url(influx_db), topic_prefix, tmp_path / "state")
    args += ["--config", str(repo_root / "config")]
    proc, port = start(args, tmp_path, "w1")
    pub = Publisher(mosquitto.url)
    try:
        pub.publish(
            [
                (topics.grid("CN-SOUTH"), point("CN-SOUTH", T0, 400.0)),  # no site there
                (topics.grid("CN-EAST"), point("CN-EAST", T0, 560.0)),
            ]
        )
        wait_until(lambda: len(stored_intensity(influx_db)) >= 1, 60, "the known region stored")
        wait_until(lambda: metric(port, "peakline_ingest_rejects_total") >= 1, 30, "a rejection")
        assert stored_intensity(influx_db) == {("CN-EAST", T0): 560.0}
    finally:
        pub.close()
        assert proc.terminate() == 0, proc.log
