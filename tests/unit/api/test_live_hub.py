"""The live hub's stream subscriptions (seam: LiveHub.feed, no broker needed for this logic)."""

from __future__ import annotations

from peakline_api.live import DeviceOwner, LiveHub
from peakline_core.wire import Topics
from peakline_core.wire.payloads import (
    AgentState,
    CommandAck,
    CommandState,
    DeviceStatus,
    Reading,
    TelemetryBatch,
    encode,
)

TS = 1_700_000_000 * 10**9


def _status(hub: LiveHub, site: str, device: str, state: str, ts: int) -> None:
    msg = DeviceStatus(agent="gw1", site=site, device=device, state=state, ts=ts)
    hub.feed(hub.topics.status(site, device), encode(msg))


async def test_a_new_subscriber_starts_with_the_known_status_of_its_devices() -> None:
    """A status that arrived before the client subscribed (between its device list and its
    stream) is the first event it gets; other sites' and unknown devices' are not sent."""
    hub = LiveHub(Topics("t"))
    _status(hub, "s1", "hvac", "online", TS)
    _status(hub, "s1", "meter", "offline", TS + 10**9)
    _status(hub, "s2", "pv", "online", TS)
    async with hub.subscribe(frozenset({"s1"}), None) as sub:
        first = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
        _status(hub, "s1", "hvac", "unavailable", TS + 2 * 10**9)
        later = sub.queue.get_nowait()
    assert sorted((e, d["device"], d["state"], d["t_ms"]) for e, d in first) == [
        ("status", "hvac", "online", TS // 10**6),
        ("status", "meter", "offline", (TS + 10**9) // 10**6),
    ]
    assert later == (
        "status",
        {
            "site": "s1",
            "device": "hvac",
            "state": "unavailable",
            "reason": None,
            "t_ms": (TS + 2 * 10**9) // 10**6,
        },
    )


async def test_a_device_filter_limits_the_initial_statuses() -> None:
    hub = LiveHub(Topics("t"))
    _status(hub, "s1", "hvac", "online", TS)
    _status(hub, "s1", "meter", "online", TS)
    async with hub.subscribe(frozenset({"s1"}), frozenset({"meter"})) as sub:
        assert sub.queue.qsize() == 1
        assert sub.queue.get_nowait()[1]["device"] == "meter"


OWNERS = {
    "hvac": DeviceOwner("s1", "gw1"),
    "meter": DeviceOwner("s1", "gw1"),
    "pv": DeviceOwner("s2", "gw2"),
}


def _send(hub: LiveHub, topic: str, message: object) -> None:
    hub.feed(topic, encode(message))  # type: ignore[arg-type]


async def test_a_payload_naming_another_site_or_device_than_its_topic_is_dropped() -> None:
    """gw1 may publish on s1/hvac's topics (the broker ACL allows it) but must not write s2/pv's
    live status, readings or acks by naming them in the payload (issue #19)."""
    hub = LiveHub(Topics("t"), owners=OWNERS)
    own_topic = hub.topics.status("s1", "hvac")
    _send(hub, own_topic, DeviceStatus(agent="gw1", site="s2", device="pv", state="offline", ts=TS))
    reading = Reading(point="p", ts=TS, value=1.0)
    batch = TelemetryBatch(agent="gw1", site="s2", device="pv", seq=1, sent=TS, readings=[reading])
    async with hub.subscribe(frozenset({"s2"}), None) as sub:
        _send(hub, hub.topics.telemetry("s1", "hvac"), batch)
        ack = CommandAck(
            id="c1",
            agent="gw1",
            site="s2",
            device="pv",
            point="p",
            state=CommandState.APPLIED,
            ts=TS,
        )
        _send(hub, hub.topics.ack("s1", "hvac"), ack)
        assert sub.queue.empty()
    assert hub.devices == {}
    assert hub.rejected == {
        "status_topic_mismatch": 1,
        "tele_topic_mismatch": 1,
        "ack_topic_mismatch": 1,
    }


async def test_a_device_that_is_not_configured_or_not_the_agents_is_dropped() -> None:
    hub = LiveHub(Topics("t"), owners=OWNERS)
    for i in range(50):  # invented ids do not grow the state
        _send(
            hub,
            hub.topics.status("s1", f"x{i}"),
            DeviceStatus(agent="gw1", site="s1", device=f"x{i}", state="online", ts=TS),
        )
    # the topic and payload agree, but pv is gw2's
    _send(
        hub,
        hub.topics.status("s2", "pv"),
        DeviceStatus(agent="gw1", site="s2", device="pv", state="offline", ts=TS),
    )
    _send(hub, hub.topics.agent("gw9"), AgentState(agent="gw9", state="online", ts=TS))
    _send(hub, hub.topics.agent("gw1"), AgentState(agent="gw2", state="offline", ts=TS))
    assert hub.devices == {} and hub.agents == {}
    assert hub.rejected == {
        "status_unknown_device": 50,
        "status_wrong_agent": 1,
        "agent_unknown_agent": 2,
    }
    _status(hub, "s1", "hvac", "online", TS)  # the real thing still works
    assert hub.device("s1", "hvac").state == "online"


async def test_an_agents_spool_depth_is_kept_while_it_is_online() -> None:
    hub = LiveHub(Topics("t"), owners=OWNERS)
    topic = hub.topics.agent("gw1")
    _send(hub, topic, AgentState(agent="gw1", state="online", ts=TS))  # birth: no depth yet
    assert hub.spools == {}
    spooled = AgentState(
        agent="gw1", state="online", ts=TS + 1, spool_readings=1200, spool_oldest_age_s=95.5
    )
    _send(hub, topic, spooled)
    got = hub.spools["gw1"]
    assert (got.readings, got.oldest_age_s, got.ts_ns) == (1200, 95.5, TS + 1)
    # forged (another agent's topic) changes nothing; the last will forgets the depth
    _send(
        hub,
        hub.topics.agent("gw2"),
        AgentState(agent="gw1", state="online", ts=TS, spool_readings=1),
    )
    assert hub.spools["gw1"].readings == 1200
    _send(hub, topic, AgentState(agent="gw1", state="offline", ts=TS + 2))
    assert hub.spools == {} and hub.agents["gw1"] == "offline"
