"""Per-app Prometheus metrics, structured access logs and the request body limit (pure ASGI).

Metrics live in a registry owned by the app (no global default registry), so two apps in one
process (tests) never share counters.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from peakline_api.errors import PROBLEM_MEDIA_TYPE


class ApiMetrics:
    """The API's metrics, registered in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "peakline_api_requests",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "peakline_api_request_seconds",
            "HTTP request duration (s) by route template",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
            registry=self.registry,
        )
        self.stream_clients = Gauge(
            "peakline_api_stream_clients", "connected live-stream clients", registry=self.registry
        )
        self.stream_dropped = Counter(
            "peakline_api_stream_dropped",
            "live-stream events dropped because a client was too slow",
            registry=self.registry,
        )
        self.live_rejected = Counter(
            "peakline_api_live_rejected",
            "broker messages the live state refused: ids not the topic's or not configured",
            ["reason"],
            registry=self.registry,
        )
        self.broker_connected = Gauge(
            "peakline_api_broker_connected",
            "1 when the broker session is up",
            registry=self.registry,
        )
        self.alert_notifications = Counter(
            "peakline_api_alert_notifications",
            "alert notification attempts by channel kind and outcome (sent, failed, dead)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.alert_evaluations_failed = Counter(
            "peakline_api_alert_evaluations_failed",
            "alert evaluation passes that failed (store unavailable...); retried next pass",
            registry=self.registry,
        )


_CSP = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
    b"connect-src 'self'; frame-ancestors 'none'"
)


def _route_of(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    # The template, never the raw path: raw paths carry ids and hostile strings (cardinality).
    return path if isinstance(path, str) else "<unmatched>"


class ObservabilityMiddleware:
    """Access log line and metrics for every HTTP request; rejects oversized bodies with 413."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body_bytes
        self.log = structlog.get_logger("peakline.api.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _too_large(send, scope.get("path", ""), self.max_body)
            self._record(scope, 413, started)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    # An HTTPException so FastAPI's body parsing re-raises it as is (not a 400).
                    raise StarletteHTTPException(
                        413, f"request bodies are limited to {self.max_body} bytes"
                    )
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                extra = [(b"x-content-type-options", b"nosniff")]
                if scope.get("path", "").startswith("/dashboard"):
                    # Everything the dashboard needs is served locally: forbid anything else.
                    extra += [
                        (b"content-security-policy", _CSP),
                        (b"x-frame-options", b"DENY"),
                    ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        finally:
            self._record(scope, status, started)

    def _record(self, scope: Scope, status: int, started: float) -> None:
        elapsed = time.perf_counter() - started
        route = _route_of(scope)
        self.metrics.requests.labels(route, scope.get("method", ""), str(status)).inc()
        self.metrics.latency.labels(route).observe(elapsed)
        state: Any = scope.get("state") or {}
        key = state.get("key_id") if isinstance(state, dict) else None
        client = scope.get("client")
        self.log.info(
            "request",
            method=scope.get("method"),
            route=route,
            path=scope.get("path", "")[:200],
            status=status,
            duration_ms=round(elapsed * 1000, 2),
            key=key,
            client=client[0] if client else None,
        )


async def _too_large(send: Send, path: str, limit: int) -> None:
    import json

    body = json.dumps(
        {
            "type": "urn:peakline:problem:too-large",
            "title": "Request too large",
            "status": 413,
            "detail": f"request bodies are limited to {limit} bytes",
            "instance": path[:200],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
