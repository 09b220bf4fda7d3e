"""The newest value of every point, kept in memory from the live feed: `readings/latest`, the
overview's power and the grid intensity answer from it without a store read.

The API already follows the broker for its live stream (live.py); every telemetry batch and
grid point that passes the checks ingest applies before storing (the device is its agent's,
finite values, timestamps within ingest's bounds) updates this table, newest timestamp
wins. The table is seeded from the store's `latest()` at every broker (re)connect, per city,
so a restart or a gap in the feed (the API's subscription is not persistent) never leaves
an older value in place of a stored newer one. Without a broker (an API run on a store
alone, unit tests) the store answers through `LatestCache` as before (`Latest.answer`).

Why by hand: a dict of the newest value per series, indexed by its first tag (site or
region) so that a city's request walks its own sites only.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from peakline_core.storage import Series, Store
from peakline_core.storage.schema import CARBON_INTENSITY, READING, SERIES_TAGS
from peakline_core.storage.store import FieldValue

NS = 1_000_000_000
MAX_FUTURE_S = 300.0  # ingest's bounds (peakline_ingest.validate.Limits): what it would store
MAX_PAST_S = 90 * 86400.0
SERVED = frozenset({(READING, "value"), (READING, "quality"), (CARBON_INTENSITY, "g_per_kwh")})
"""The (measurement, field) pairs the table answers; anything else is read from the store."""

Key = tuple[str, str]
Row = tuple[int, FieldValue]


@dataclass
class LatestTable:
    """(measurement, field) -> first tag -> other tags -> (ts, value), newest ts kept."""

    clock_ns: Callable[[], int] = time.time_ns
    _rows: dict[Key, dict[str, dict[tuple[str, ...], Row]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(dict))
    )
    seeded: bool = False
    """True once a seed from the store has completed (until then the store answers)."""

    def offer(
        self, measurement: str, fld: str, tags: Sequence[str], ts: int, value: FieldValue
    ) -> None:
        """Keep `value` if it is the series' newest."""
        rows = self._rows[(measurement, fld)][tags[0]]
        rest = tuple(tags[1:])
        old = rows.get(rest)
        if old is None or ts >= old[0]:
            rows[rest] = (ts, value)

    def plausible(self, ts: Iterable[int]) -> bool:
        """Within the timestamp bounds ingest applies to a whole message."""
        now = self.clock_ns()
        stamps = list(ts)
        return bool(stamps) and (
            max(stamps) <= now + int(MAX_FUTURE_S * NS)
            and min(stamps) >= now - int(MAX_PAST_S * NS)
        )

    def seed(self, measurement: str, fld: str, series: Iterable[Series]) -> None:
        """The store's newest values (merged: a newer value from the feed stays)."""
        names = SERIES_TAGS[measurement]
        for s in series:
            if not s.times or not s.values or s.values[-1] is None:
                continue
            tags = tuple(str(s.tags.get(n, "")) for n in names)
            self.offer(measurement, fld, tags, int(s.times[-1]), s.values[-1])

    def latest(
        self, measurement: str, fld: str, where: Mapping[str, Sequence[str]]
    ) -> list[Series]:
        """What `Store.latest` answers for the same arguments, from memory."""
        names = SERIES_TAGS[measurement]
        if any(not v for v in where.values()) or any(k not in names for k in where):
            return []
        table = self._rows.get((measurement, fld), {})
        first = where.get(names[0])
        groups = [(g, table[g]) for g in first if g in table] if first else list(table.items())
        wanted = [(names.index(k) - 1, frozenset(v)) for k, v in where.items() if k != names[0]]
        out = []
        for head, rows in groups:
            for rest, (ts, value) in rows.items():
                if all(rest[i] in allowed for i, allowed in wanted):
                    tags = dict(zip(names, (head, *rest), strict=True))
                    out.append(Series(tags, [ts], [value]))
        return out


def reading_value(value: object) -> float | None:
    """A telemetry value as ingest stores it in `reading.value`: numbers and booleans (0/1);
    strings go to `text`, None (an error reading) to nothing."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


async def seed_from_store(
    table: LatestTable, store: Store, cities: Mapping[str, Sequence[str]], regions: Sequence[str]
) -> None:
    """Seed `table` from the store: readings per city (its sites), the grid's regions."""
    for sites in cities.values():
        where = {"site": list(sites)}
        for fld in ("value", "quality"):
            table.seed(READING, fld, await store.latest(READING, fld, where))
    if regions:
        found = await store.latest(CARBON_INTENSITY, "g_per_kwh", {"region": list(regions)})
        table.seed(CARBON_INTENSITY, "g_per_kwh", found)
    table.seeded = True


class LatestSource(Protocol):
    async def latest(
        self, measurement: str, field: str, where: Mapping[str, Sequence[str]]
    ) -> list[Series]: ...


class Latest:
    """What routers ask for the newest values: the table while the feed is live (connected
    to the broker and seeded since), else the store through `fallback` (a `LatestCache`)."""

    def __init__(
        self, table: LatestTable | None, live: Callable[[], bool], fallback: LatestSource
    ) -> None:
        self.table = table
        self.live = live
        self.fallback = fallback
        self.answered = {"table": 0, "store": 0}

    async def latest(
        self, measurement: str, fld: str, where: Mapping[str, Sequence[str]]
    ) -> list[Series]:
        table = self.table
        if table is not None and table.seeded and self.live() and (measurement, fld) in SERVED:
            self.answered["table"] += 1
            return table.latest(measurement, fld, where)
        self.answered["store"] += 1
        return await self.fallback.latest(measurement, fld, where)
