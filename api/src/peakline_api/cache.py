"""A short-lived cache with request coalescing for the store's `latest()` answers.

Latest readings change at most once per poll interval (seconds), while dashboards and
integrations ask for them many times a second. Answers are kept `ttl_s` (default 1 s, which
bounds the extra staleness) and concurrent identical requests share one store call, so a
burst of clients costs the store one query per distinct filter per second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence

from peakline_core.storage import Series, Store

Key = tuple[str, str, tuple[tuple[str, tuple[str, ...]], ...]]


class LatestCache:
    """Wraps `store.latest`; bounded to `max_entries` keys (oldest evicted)."""

    def __init__(
        self,
        store: Store,
        ttl_s: float = 1.0,
        max_entries: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.clock = clock
        self._done: dict[Key, tuple[float, list[Series]]] = {}
        self._pending: dict[Key, asyncio.Future[list[Series]]] = {}

    async def latest(
        self, measurement: str, field: str, where: Mapping[str, Sequence[str]]
    ) -> list[Series]:
        if self.ttl_s <= 0:
            return await self.store.latest(measurement, field, where)
        key: Key = (measurement, field, tuple(sorted((k, tuple(v)) for k, v in where.items())))
        hit = self._done.get(key)
        if hit is not None and self.clock() - hit[0] < self.ttl_s:
            return hit[1]
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[list[Series]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            answer = await self.store.latest(measurement, field, where)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: waiters re-raise it, nobody else must
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(answer)
        if len(self._done) >= self.max_entries:
            self._done.pop(next(iter(self._done)))
        self._done[key] = (self.clock(), answer)
        return answer
