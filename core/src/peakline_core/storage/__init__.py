"""Storage schema and the store contract shared by ingest (writes) and the API (reads)."""

from peakline_core.storage.lineprotocol import (
    LineProtocolError,
    RowBlock,
    SeriesKeys,
    encode_block,
    encode_rows,
)
from peakline_core.storage.schema import MEASUREMENTS, SERIES_TAGS, QualityCode
from peakline_core.storage.store import (
    Aggregate,
    Row,
    Series,
    SeriesQuery,
    Store,
    StoreError,
    StoreRejected,
    StoreTruncated,
    StoreUnavailable,
    Totals,
    TotalsQuery,
)

__all__ = [
    "MEASUREMENTS",
    "SERIES_TAGS",
    "Aggregate",
    "LineProtocolError",
    "QualityCode",
    "Row",
    "RowBlock",
    "Series",
    "SeriesKeys",
    "SeriesQuery",
    "Store",
    "StoreError",
    "StoreRejected",
    "StoreTruncated",
    "StoreUnavailable",
    "Totals",
    "TotalsQuery",
    "encode_block",
    "encode_rows",
]
