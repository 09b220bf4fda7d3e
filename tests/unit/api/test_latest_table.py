"""The API's latest-value table (latest.py): newest timestamp wins whatever the arrival order,
an error reading updates the quality but keeps the last value (as the store's `last()`
does), filters combine like a store's `where`, and the hub feeds it only what ingest would
store."""

from __future__ import annotations

from peakline_api.latest import LatestTable
from peakline_api.live import DeviceOwner, LiveHub
from peakline_core.storage import Series
from peakline_core.wire.payloads import Quality, Reading, TelemetryBatch, encode
from peakline_core.wire.topics import Topics

NOW = 1_767_225_600 * 10**9
S = 10**9


def rows(table: LatestTable, fld: str, **where: list[str]) -> dict[tuple[str, ...], tuple]:
    return {
        tuple(s.tags.values()): (s.times[-1], s.values[-1])
        for s in table.latest("reading", fld, where)
    }


def test_newest_wins_and_filters_combine() -> None:
    t = LatestTable(clock_ns=lambda: NOW)
    t.offer("reading", "value", ("s1", "m1", "p"), NOW, 2.0)
    t.offer("reading", "value", ("s1", "m1", "p"), NOW - S, 1.0)  # late: older, ignored
    t.offer("reading", "value", ("s1", "m2", "p"), NOW, 3.0)
    t.offer("reading", "value", ("s2", "m3", "p"), NOW, 4.0)
    assert rows(t, "value", site=["s1"]) == {
        ("s1", "m1", "p"): (NOW, 2.0),
        ("s1", "m2", "p"): (NOW, 3.0),
    }
    assert rows(t, "value", device=["m3"]) == {("s2", "m3", "p"): (NOW, 4.0)}
    assert rows(t, "value", site=["s1"], device=["m3"]) == {}
    assert rows(t, "value", site=[]) == {}  # an empty filter matches nothing, as in a store
    assert t.latest("reading", "value", {"kind": ["x"]}) == []  # not a tag of the measurement
    # A seed from the store never replaces a newer value from the feed.
    t.seed(
        "reading",
        "value",
        [Series({"site": "s1", "device": "m1", "point": "p"}, [NOW - 5 * S], [9.0])],
    )
    assert rows(t, "value", device=["m1"]) == {("s1", "m1", "p"): (NOW, 2.0)}


def hub(table: LatestTable) -> LiveHub:
    owners = {"m1": DeviceOwner("s1", "gw1")}
    return LiveHub(Topics("pl"), owners=owners, table=table)


def batch(seq: int, *readings: Reading, agent: str = "gw1") -> bytes:
    return encode(
        TelemetryBatch(
            agent=agent, site="s1", device="m1", seq=seq, sent=NOW, readings=list(readings)
        )
    )


def test_the_hub_feeds_what_ingest_would_store() -> None:
    t = LatestTable(clock_ns=lambda: NOW)
    h = hub(t)
    topic = Topics("pl").telemetry("s1", "m1")
    h.feed(
        topic,
        batch(
            1,
            Reading(point="p", ts=NOW - S, value=5.0),
            Reading(point="on", ts=NOW - S, value=True),
        ),
    )
    # an error reading: no value, the quality changes, the last value stays
    h.feed(topic, batch(2, Reading(point="p", ts=NOW, value=None, quality=Quality.ERROR)))
    assert rows(t, "value", device=["m1"]) == {
        ("s1", "m1", "p"): (NOW - S, 5.0),
        ("s1", "m1", "on"): (NOW - S, 1.0),
    }
    assert rows(t, "quality", point=["p"]) == {("s1", "m1", "p"): (NOW, 2)}
    h.feed(topic, batch(3, Reading(point="p", ts=NOW + 3600 * S, value=-1.0)))  # ingest: future
    h.feed(topic, batch(4, Reading(point="p", ts=NOW, value=-2.0), agent="gw2"))  # not its agent
    assert rows(t, "value", point=["p"]) == {("s1", "m1", "p"): (NOW - S, 5.0)}
    grid = Topics("pl").grid("CN-EAST")
    h.feed(grid, b'{"region": "CN-EAST", "ts": %d, "intensity_g_per_kwh": 512.5}' % NOW)
    h.feed(grid, b'{"region": "CN-NORTH", "ts": %d, "intensity_g_per_kwh": 9}' % NOW)  # wrong topic
    got = t.latest("carbon_intensity", "g_per_kwh", {"region": ["CN-EAST", "CN-NORTH"]})
    assert [(s.tags["region"], s.values[-1]) for s in got] == [("CN-EAST", 512.5)]
