"""Open the store named by a URL: `sqlite:///path.db` or `http(s)://host:port?db=name[&token=]`."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from peakline_store.errors import StorePackageError
from peakline_store.influx import InfluxStore
from peakline_store.sqlite import SqliteStore


class StoreUrlError(StorePackageError, ValueError):
    """The store URL names no supported backend or lacks a part."""


def open_store(url: str) -> InfluxStore | SqliteStore:
    """The store for `url`; InfluxDB URLs take `db`, and `token` or `user`/`password`, `rp`."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = parts.path if not parts.netloc else f"{parts.netloc}{parts.path}"
        if not path:
            raise StoreUrlError("sqlite URL needs a path: sqlite:///var/lib/peakline/store.db")
        return SqliteStore(path)
    if parts.scheme in ("http", "https"):
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if not query.get("db"):
            raise StoreUrlError("InfluxDB URL needs ?db=<database>")
        base = f"{parts.scheme}://{parts.hostname}:{parts.port or 8086}{parts.path}".rstrip("/")
        return InfluxStore(
            base,
            query["db"],
            token=query.get("token"),
            username=parts.username or query.get("user"),
            password=parts.password or query.get("password"),
            retention_policy=query.get("rp"),
        )
    raise StoreUrlError(f"unsupported store URL scheme {parts.scheme!r}: use sqlite:// or http://")
