"""Storage schema and the store contract shared by ingest (writes) and the API (reads)."""

from peakline_core.storage.schema import MEASUREMENTS, SERIES_TAGS, QualityCode
from peakline_core.storage.store import (
    Aggregate,
    Row,
    Series,
    SeriesQuery,
    Store,
    StoreError,
    StoreRejected,
    StoreUnavailable,
)

__all__ = [
    "MEASUREMENTS",
    "SERIES_TAGS",
    "Aggregate",
    "QualityCode",
    "Row",
    "Series",
    "SeriesQuery",
    "Store",
    "StoreError",
    "StoreRejected",
    "StoreUnavailable",
]
