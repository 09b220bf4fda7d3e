"""Pick and open the time-series store named by a URL (the one place that knows the backends)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from peakline_core.storage import Store


class StoreUrlError(ValueError):
    """The store URL names no supported backend or lacks a part."""


def open_store(url: str) -> Store:
    """`sqlite:///abs/path.db` (embedded) or `http(s)://host:port?db=name[&token=...]` (InfluxDB).

    The caller owns the returned store and must `await store.aclose()`.
    """
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = parts.path if not parts.netloc else f"{parts.netloc}{parts.path}"
        if not path:
            raise StoreUrlError("sqlite URL needs a path: sqlite:///var/lib/peakline/store.db")
        from peakline_ingest.store.sqlite import SqliteStore

        return SqliteStore(path)
    if parts.scheme in ("http", "https"):
        query = parse_qs(parts.query)
        database = (query.get("db") or [""])[0]
        if not database:
            raise StoreUrlError("InfluxDB URL needs ?db=<database>")
        token = (query.get("token") or [None])[0]
        from peakline_ingest.store.influx import InfluxStore

        base = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
        return InfluxStore(base, database, token=token)
    raise StoreUrlError(f"unsupported store URL scheme {parts.scheme!r}: use sqlite:// or http://")
