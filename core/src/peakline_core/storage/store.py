"""The store contract: what ingest writes through and the API reads through.

Implemented by the InfluxDB store (line protocol over /write, InfluxQL over /query) and the
embedded SQLite store; one contract test suite runs against both.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from peakline_core.errors import PeaklineError

FieldValue = float | int | bool | str


class StoreError(PeaklineError):
    """Base of store failures."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or answered 5xx / 429: retry later, do not acknowledge."""

    def __init__(self, detail: str, retry_after_s: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class StoreRejected(StoreError):
    """The store refused the data itself (4xx): retrying will not help; dead-letter it."""


class StoreTruncated(StoreRejected):
    """The store answered only part of a query (a server-side row limit, e.g. InfluxDB's
    `[http] max-row-limit`): the answer is refused rather than served short."""


class Aggregate(StrEnum):
    MEAN = "mean"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    LAST = "last"
    COUNT = "count"


@dataclass(frozen=True, slots=True)
class Row:
    """One stored point: measurement, series tags, fields, UTC ns timestamp."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    ts: int


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """A time-range query over one measurement's field.

    `where` maps tag keys to allowed values (OR within a key, AND across keys); ids must already
    be validated against the registry by the caller, and stores escape them again anyway.
    `every_ns` None returns raw points; otherwise one aggregated value per bucket.
    """

    measurement: str
    field: str
    start_ns: int
    end_ns: int
    where: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)
    every_ns: int | None = None
    aggregate: Aggregate = Aggregate.MEAN
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class TotalsQuery:
    """Sums of numeric fields over [start_ns, end_ns), per series: one tile of a report.

    Several fields in one read, and no time buckets: a report asks for a month's or a year's
    totals of hundreds of sites, which stores answer far faster than per-series buckets."""

    measurement: str
    fields: tuple[str, ...]
    start_ns: int
    end_ns: int
    where: Mapping[str, Sequence[str]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Totals:
    """One series' sums: its tags and field -> sum (a field with no numeric value is absent)."""

    tags: Mapping[str, str]
    sums: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Series:
    """One series' answer: its tags and parallel arrays of UTC ns times and values."""

    tags: Mapping[str, str]
    times: Sequence[int]
    values: Sequence[FieldValue | None]


class Store(Protocol):
    """A time-series store. Writes are idempotent: same series and timestamp overwrite."""

    async def write(self, rows: Sequence[Row]) -> None:
        """Store rows durably; raises StoreUnavailable or StoreRejected."""
        ...

    async def query(self, query: SeriesQuery) -> list[Series]:
        """Series matching the query, grouped by all series tags."""
        ...

    async def latest(
        self, measurement: str, field: str, where: Mapping[str, Sequence[str]]
    ) -> list[Series]:
        """The newest value of each matching series (one time and value each)."""
        ...

    async def totals(self, query: TotalsQuery) -> list[Totals]:
        """Per matching series with values in the range, the sum of each numeric field."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable when the store cannot serve requests."""
        ...

    async def aclose(self) -> None: ...
