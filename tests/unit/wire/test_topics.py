from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from peakline_core.errors import TopicError
from peakline_core.wire import TopicKind, Topics

ids = st.text("abcXYZ019_-", min_size=1, max_size=64)


@given(ids, ids)
def test_device_topics_parse_back(site: str, device: str) -> None:
    topics = Topics("pl")
    for kind, build in [
        (TopicKind.TELEMETRY, topics.telemetry),
        (TopicKind.STATUS, topics.status),
        (TopicKind.COMMAND, topics.command),
        (TopicKind.ACK, topics.ack),
        (TopicKind.EVENT, topics.event),
    ]:
        parsed = topics.parse(build(site, device))
        assert (parsed.kind, parsed.site, parsed.device) == (kind, site, device)


def test_scheme_is_pinned() -> None:
    t = Topics()
    assert t.telemetry("s", "d") == "peakline/v1/tele/s/d"
    assert t.command("s", "d") == "peakline/v1/cmd/s/d"
    assert t.agent("gw") == "peakline/v1/agent/gw"
    assert t.dead_letter("ingest") == "peakline/v1/dead/ingest"
    assert t.shared("ingest", t.filter(TopicKind.TELEMETRY)) == "$share/ingest/peakline/v1/tele/+/+"
    assert t.grid("CN-EAST") == "peakline/v1/grid/CN-EAST"
    assert t.filter(TopicKind.GRID) == "peakline/v1/grid/+"
    parsed = t.parse("peakline/v1/grid/US-NEWE")
    assert (parsed.kind, parsed.name) == (TopicKind.GRID, "US-NEWE")
    with pytest.raises(TopicError):
        t.grid("CN EAST")


@pytest.mark.parametrize("bad", ["a/b", "+", "#", "", "a b", "é", "x" * 65])
def test_ids_that_are_not_path_segments_are_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        Topics().telemetry(bad, "d")


@pytest.mark.parametrize(
    "topic",
    [
        "other/v1/tele/s/d",
        "peakline/v2/tele/s/d",
        "peakline/v1/nope/s/d",
        "peakline/v1/tele/s",
        "peakline/v1/tele/s/d/extra",
        "peakline/v1/agent/a/b",
        "peakline/v1/tele/s/+",
    ],
)
def test_foreign_topics_do_not_parse(topic: str) -> None:
    with pytest.raises(TopicError):
        Topics().parse(topic)
