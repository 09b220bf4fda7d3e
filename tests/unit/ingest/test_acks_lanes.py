"""Acks of two connections (subscriber and restart guard) through one pipeline."""

from __future__ import annotations

from peakline_ingest.acks import OrderedAcks
from peakline_ingest.restart_guard import _level


def test_a_token_is_acknowledged_on_the_connection_that_registered_it() -> None:
    main_sent: list[int] = []
    guard_sent: list[int] = []
    main, guard = OrderedAcks(), OrderedAcks()
    main.connected(lambda mid, qos: main_sent.append(mid))
    guard.connected(lambda mid, qos: guard_sent.append(mid))
    g1, g2 = guard.register(7, 1), guard.register(8, 1)
    m1 = main.register(7, 1)
    main.done(g2)  # the pipeline only knows the subscriber's tracker
    assert guard_sent == [] and main_sent == []  # g1 is not done: order holds per connection
    main.done(g1)
    assert guard_sent == [7, 8] and main_sent == []
    main.done(m1)
    assert main_sent == [7]


def test_on_sent_runs_after_the_puback_left_in_order_only() -> None:
    sent: list[int] = []
    events: list[str] = []
    acks = OrderedAcks()
    acks.connected(lambda mid, qos: sent.append(mid))
    first, marker = acks.register(1, 1), acks.register(2, 1)
    marker.on_sent = lambda: events.append(f"after {sent}")
    acks.done(marker)
    assert events == []  # an earlier message is still being written
    acks.done(first)
    assert events == ["after [1, 2]"]
    stale = acks.register(3, 1)
    stale.on_sent = lambda: events.append("stale")
    acks.connected(lambda mid, qos: sent.append(mid))  # reconnect: never acked, never run
    acks.done(stale)
    assert events == ["after [1, 2]"]


def test_client_ids_become_one_topic_level() -> None:
    assert _level("ingest-1") == "ingest-1"
    assert _level("a/b+c#$d") == "a_b_c__d"
    assert _level("") == "_"
