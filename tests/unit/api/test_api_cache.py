"""The latest-readings cache: TTL, request coalescing, errors not cached."""

from __future__ import annotations

import asyncio

import pytest

from peakline_api.cache import LatestCache
from peakline_core.storage import Series, StoreUnavailable


class CountingStore:
    def __init__(self) -> None:
        self.calls = 0
        self.gate = asyncio.Event()
        self.fail = False

    async def latest(self, measurement, field, where):  # type: ignore[no-untyped-def]
        self.calls += 1
        await self.gate.wait()
        if self.fail:
            raise StoreUnavailable("down", 1.0)
        return [Series({"site": where["site"][0]}, [self.calls], [1.0])]


async def test_concurrent_requests_share_one_store_call() -> None:
    store = CountingStore()
    now = [0.0]
    cache = LatestCache(store, ttl_s=1.0, clock=lambda: now[0])  # type: ignore[arg-type]
    waiters = [
        asyncio.create_task(cache.latest("reading", "value", {"site": ["a"]})) for _ in range(20)
    ]
    await asyncio.sleep(0)
    store.gate.set()
    answers = await asyncio.gather(*waiters)
    assert store.calls == 1 and all(a is answers[0] for a in answers)
    await cache.latest("reading", "value", {"site": ["b"]})
    assert store.calls == 2  # another filter is another key
    now[0] = 0.5
    await cache.latest("reading", "value", {"site": ["a"]})
    assert store.calls == 2
    now[0] = 1.5
    fresh = await cache.latest("reading", "value", {"site": ["a"]})
    assert store.calls == 3 and fresh[0].times == [3]


async def test_errors_reach_every_waiter_and_are_not_cached() -> None:
    store = CountingStore()
    store.fail = True
    cache = LatestCache(store, ttl_s=10.0)  # type: ignore[arg-type]
    waiters = [
        asyncio.create_task(cache.latest("reading", "value", {"site": ["a"]})) for _ in range(3)
    ]
    await asyncio.sleep(0)
    store.gate.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)
    store.fail = False
    assert (await cache.latest("reading", "value", {"site": ["a"]}))[0].values == [1.0]
    assert store.calls == 2


async def test_ttl_zero_turns_it_off() -> None:
    store = CountingStore()
    store.gate.set()
    cache = LatestCache(store, ttl_s=0)  # type: ignore[arg-type]
    for _ in range(3):
        await cache.latest("reading", "value", {"site": ["a"]})
    assert store.calls == 3


def test_cache_is_bounded() -> None:
    store = CountingStore()
    store.gate.set()
    cache = LatestCache(store, ttl_s=60, max_entries=5)  # type: ignore[arg-type]

    async def fill() -> None:
        for i in range(20):
            await cache.latest("reading", "value", {"site": [f"s{i}"]})

    asyncio.run(fill())
    assert len(cache._done) == 5


pytestmark = pytest.mark.filterwarnings("error")
