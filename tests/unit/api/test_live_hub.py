"""The live hub's stream subscriptions (seam: LiveHub.feed, no broker needed for this logic)."""

from __future__ import annotations

from peakline_api.live import LiveHub
from peakline_core.wire import Topics
from peakline_core.wire.payloads import DeviceStatus, encode

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
