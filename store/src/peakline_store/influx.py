"""InfluxDB store over httpx: line protocol to /write, InfluxQL to /query.

Those two endpoints are the API shared by InfluxDB 1.x, 2.x (v1 compatibility: token auth,
database = bucket mapping) and 3.x. One keep-alive connection pool serves concurrent writes
and reads. Failures are translated here, at the boundary: connection errors, 5xx and 429
become StoreUnavailable (retry, do not acknowledge; 429's Retry-After is carried), 400/413/422
become StoreRejected (the data is bad: dead-letter it, do not retry).
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

import httpx

from peakline_core.storage import (
    LineProtocolError,
    Row,
    RowBlock,
    Series,
    SeriesKeys,
    SeriesQuery,
    StoreRejected,
    StoreUnavailable,
    Totals,
    TotalsQuery,
    encode_block,
    encode_rows,
)
from peakline_core.storage.schema import MEASUREMENTS, SERIES_TAGS
from peakline_store.httpwrite import HttpPoster, PostFailed
from peakline_store.influx_read import (
    ACCEPT,
    ShortcutMemo,
    decode_answer,
    one_per_window,
    sort_series,
    split_where,
    window_count,
)
from peakline_store.influxql import (
    check_duration,
    count_query,
    latest_query,
    quote_ident,
    range_query,
    totals_query,
)

_REJECTED = frozenset({400, 413, 422})
SPLIT_ROWS = 20_000  # answers this large are read as concurrent parts


def auth_headers(
    token: str | None = None, username: str | None = None, password: str | None = None
) -> dict[str, str]:
    """Authorization header: `Token <t>` (2.x/3.x) or HTTP basic (1.x users, 2.x v1 auth)."""
    if token:
        return {"Authorization": f"Token {token}"}
    if username is not None:
        raw = f"{username}:{password or ''}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
    return {}


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form), None when absent or a date."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


class InfluxStore:
    """Store backed by an InfluxDB server, e.g. `InfluxStore("http://127.0.0.1:8086", "peakline")`.

    `token` or `username`/`password` authenticate; `retention_policy` targets a named RP.
    Constructing it does no I/O; call `aclose()`.
    """

    def __init__(
        self,
        url: str,
        database: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        retention_policy: str | None = None,
        timeout_s: float = 30.0,
        max_connections: int = 16,
        read_parallelism: int = 2,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.retention_policy = retention_policy
        self._series_keys = SeriesKeys()  # escaped once, reused by every block written
        self._poster = HttpPoster(  # the write path: leaner than httpx per request
            self.url,
            auth_headers(token, username, password) | {"Content-Type": "text/plain; charset=utf-8"},
            timeout_s,
            max_connections,
        )
        self._shortcuts = ShortcutMemo()  # windowed reads answered from raw points
        self.read_parallelism = read_parallelism
        self.split_rows = SPLIT_ROWS  # smallest answer read in parts
        self._client = httpx.AsyncClient(
            base_url=self.url,
            headers=auth_headers(token, username, password),
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    async def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"influxdb at {self.url}: {type(exc).__name__}: {exc}") from None
        if response.status_code < 300:
            return response
        detail = f"influxdb {path} answered {response.status_code}: {response.text[:500]}"
        if response.status_code == 429:
            raise StoreUnavailable(detail, retry_after_s=retry_after(response))
        if response.status_code in _REJECTED:
            raise StoreRejected(detail)
        # 5xx, and 401/403/404 (credentials, missing database): an operator can fix these,
        # so the data is held back and retried, never dead-lettered.
        raise StoreUnavailable(detail, retry_after_s=retry_after(response))

    # -- writes ------------------------------------------------------------------------------

    async def write_lines(self, body: bytes) -> None:
        """POST line protocol (ns precision) to /write."""
        if not body:
            return
        params = {"db": self.database, "precision": "ns"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        try:
            answer = await self._poster.post(f"/write?{urlencode(params)}", body)
        except PostFailed as exc:
            raise StoreUnavailable(f"influxdb at {self.url}: {exc}") from None
        if answer.status < 300:
            return
        detail = f"influxdb /write answered {answer.status}: {answer.text[:500]}"
        if answer.status in _REJECTED:
            raise StoreRejected(detail)
        # 429, 5xx, and 401/403/404 (credentials, missing database): held back and retried.
        raise StoreUnavailable(detail, retry_after_s=answer.retry_after_s)

    async def write(self, rows: Sequence[Row]) -> None:
        """Write rows; same series and UTC ns timestamp overwrite (idempotent)."""
        for row in rows:
            if row.measurement not in MEASUREMENTS:
                raise StoreRejected(f"unknown measurement {row.measurement!r}")
        try:
            body = encode_rows(rows)
        except LineProtocolError as exc:
            raise StoreRejected(str(exc)) from None
        await self.write_lines(body)

    async def write_blocks(self, blocks: Sequence[RowBlock]) -> None:
        """Write columnar blocks in one request (the ingest hot path)."""
        for block in blocks:
            if block.measurement not in MEASUREMENTS:
                raise StoreRejected(f"unknown measurement {block.measurement!r}")
        try:
            body = b"".join(encode_block(b, self._series_keys) for b in blocks)
        except LineProtocolError as exc:
            raise StoreRejected(str(exc)) from None
        await self.write_lines(body)

    # -- reads -------------------------------------------------------------------------------

    async def influxql(self, statement: str, *, database: bool = True) -> list[dict[str, Any]]:
        """Run InfluxQL (POST /query, epoch=ns); returns the first result's series list."""
        data: dict[str, str] = {"q": statement}
        params = {"epoch": "ns"} | ({"db": self.database} if database else {})
        if self.retention_policy and database:
            params["rp"] = self.retention_policy
        response = await self._request("POST", "/query", params=params, data=data)
        results = response.json().get("results") or [{}]
        first: dict[str, Any] = results[0]
        error = first.get("error")
        if error:
            if str(error).startswith("database not found"):
                return []
            raise StoreRejected(f"influxql: {error}")
        series: list[dict[str, Any]] = first.get("series") or []
        return series

    async def select(self, statement: str, measurement: str) -> list[Series]:
        """Run one SELECT (epoch=ns, MessagePack when the server offers it) as Series."""
        params = {"db": self.database, "epoch": "ns"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        response = await self._request(
            "POST", "/query", params=params, data={"q": statement}, headers={"Accept": ACCEPT}
        )
        content_type = response.headers.get("Content-Type", "")
        return decode_answer(content_type, response.content, measurement)

    async def query(self, query: SeriesQuery) -> list[Series]:
        """Raw points or epoch-aligned bucket aggregates, one Series per tag set.

        A windowed query without LIMIT is answered from raw points when every window holds
        at most one value (exact: see `influx_read`), else by influxd's aggregation. Unless
        the query took the raw path last time, a cheap statement first counts the values per
        series; a series with more values than windows sends it to influxd at once. The raw
        read is capped at windows + 1 points per series, so a series reaching the cap proves
        a window with two values without reading more. Answers of `split_rows` rows or more
        are read as `read_parallelism` concurrent statements (`split_where`). A query of one
        or two windows (a total over a range, as reports ask) goes to influxd's aggregation
        at once."""
        if any(not v for v in query.where.values()):
            return []
        if query.every_ns is None or query.limit is not None:
            return await self._select_range(query, 1)
        windows = window_count(query.start_ns, query.end_ns, query.every_ns)
        if windows <= 2:  # a total over a range: counting first would cost what summing does
            return await self._select_range(query, 1)
        rows = self._shortcuts.get(query)
        if rows is None:
            counts = [
                int(s.values[0] or 0)
                for s in await self.select(count_query(query), query.measurement)
            ]
            if not counts:
                return []
            rows = sum(min(c, windows) for c in counts)
            if max(counts) > windows:
                return await self._select_range(query, rows)
        raw = replace(query, every_ns=None, limit=windows + 1)
        points = await self._select_range(raw, rows)
        exact = None
        if all(len(s.times) <= windows for s in points):
            exact = one_per_window(points, query.every_ns, query.aggregate)
        if exact is None:
            self._shortcuts.forget(query)
            return await self._select_range(query, rows)
        self._shortcuts.remember(query, sum(len(s.times) for s in exact))
        return exact

    async def _select_range(self, query: SeriesQuery, rows: int) -> list[Series]:
        """`range_query(query)`, as concurrent parts when about `rows` rows will come back."""
        parts = split_where(query, self.read_parallelism if rows >= self.split_rows else 1)
        if len(parts) == 1:
            return await self.select(range_query(query), query.measurement)
        answers = await asyncio.gather(
            *(self.select(range_query(p), query.measurement) for p in parts),
            return_exceptions=True,
        )
        merged: list[Series] = []
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
            merged.extend(answer)
        return sort_series(query.measurement, merged)

    async def latest(
        self, measurement: str, field: str, where: Mapping[str, Sequence[str]]
    ) -> list[Series]:
        """The newest value of `field` in each matching series."""
        if any(not v for v in where.values()):
            return []
        return await self.select(latest_query(measurement, field, where), measurement)

    async def totals(self, query: TotalsQuery) -> list[Totals]:
        """Per series, the sum of each field over the range (`totals_query`, summed here).

        Read in chunked mode (one JSON document per line, `partial` marking continuations):
        the sums need every row whatever the chunking, and a chunked answer is exempt from
        the server's `max-row-limit`."""
        if any(not v for v in query.where.values()) or not query.fields:
            return []
        params = {"db": self.database, "epoch": "ns", "chunked": "true", "chunk_size": "20000"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        response = await self._request(
            "POST", "/query", params=params, data={"q": totals_query(query)}
        )
        tags = SERIES_TAGS.get(query.measurement, ())
        sums: dict[tuple[str, ...], dict[str, float]] = {}
        for line in response.content.splitlines():
            if not line.strip():
                continue
            try:
                document = json.loads(line)
            except ValueError:
                raise StoreUnavailable("influxdb answered an undecodable totals chunk") from None
            if document.get("error"):
                raise StoreRejected(f"influxql: {document['error']}")
            for result in document.get("results") or []:
                if result.get("error"):
                    if str(result["error"]).startswith("database not found"):
                        return []
                    raise StoreRejected(f"influxql: {result['error']}")
                for s in result.get("series") or []:
                    _add_totals(sums, s, query.fields, tags)
        return [
            Totals({t: v for t, v in zip(tags, key, strict=True) if v}, got)
            for key, got in sorted(sums.items())
        ]

    async def ping(self) -> None:
        await self._request("GET", "/ping")

    async def ensure_database(self, retention: str | None = None) -> None:
        """CREATE DATABASE (idempotent) and, when given, a default retention policy (e.g. "90d")."""
        await self.influxql(f"CREATE DATABASE {quote_ident(self.database)}", database=False)
        if retention:
            rp = self.retention_policy or "peakline"
            await self.influxql(
                f"CREATE RETENTION POLICY {quote_ident(rp)} ON {quote_ident(self.database)}"
                f" DURATION {check_duration(retention)} REPLICATION 1 DEFAULT",
                database=False,
            )

    async def aclose(self) -> None:
        await self._poster.aclose()
        await self._client.aclose()


def _add_totals(
    sums: dict[tuple[str, ...], dict[str, float]],
    series: Mapping[str, Any],
    fields: Sequence[str],
    tags: Sequence[str],
) -> None:
    """Add one answered series' rows into `sums`: ungrouped rows carry the tags as columns
    (time, the fields, the tags), a grouped answer one row of sums under its series' tags."""
    columns = series["columns"]
    fi = [(f, columns.index(f)) for f in fields if f in columns]
    ti = [columns.index(t) if t in columns else None for t in tags]
    grouped = series.get("tags") or {}
    for row in series.get("values") or []:
        key = tuple(
            str(grouped.get(t) or "") if i is None else ("" if row[i] is None else str(row[i]))
            for t, i in zip(tags, ti, strict=True)
        )
        acc = sums.get(key)
        for f, i in fi:
            v = row[i]
            if isinstance(v, int | float) and not isinstance(v, bool):
                if acc is None:
                    acc = sums[key] = {}
                acc[f] = acc.get(f, 0.0) + float(v)
