"""Store implementations of peakline_core.storage.Store: InfluxDB (httpx) and SQLite."""

from peakline_store.influx import InfluxStore, auth_headers
from peakline_store.sqlite import SqliteStore

__all__ = ["InfluxStore", "SqliteStore", "auth_headers"]
