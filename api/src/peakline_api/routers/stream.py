"""Server-sent events: live readings, device status, anomaly events and command acks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from peakline_api.errors import ApiError
from peakline_api.params import FiltersDep
from peakline_api.state import Caller, State

router = APIRouter(prefix="/api/v1", tags=["live"])


class StreamUnavailable(ApiError):
    status, code, title = 503, "stream-unavailable", "Live stream unavailable"


class TooManyStreams(ApiError):
    status, code, title = 429, "too-many-streams", "Too many live streams"


@router.get(
    "/stream",
    summary="Live events (SSE) for sites or devices",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "events: readings, status, anomaly, ack",
        }
    },
)
async def stream(
    caller: Caller, state: State, f: FiltersDep, request: Request
) -> StreamingResponse:
    """`text/event-stream` of `readings` (one per telemetry batch), `status`, `anomaly` and `ack`
    events, JSON data, for the sites/devices selected by the usual filters (default: all the
    key may see). It starts with the `status` of every selected device whose state is known,
    so a change between the client's snapshot and its subscription is not missed. A comment
    line is sent every heartbeat interval to keep proxies open."""
    sel = caller.select(f.site, f.district, f.city, f.device)
    if state.settings.broker_url is None:
        raise StreamUnavailable("this API runs without a broker; live streams are off")
    devices = frozenset(sel.devices) if f.device else None
    settings = state.settings
    heartbeat = settings.stream_heartbeat_s
    key = caller.key.id
    open_streams = state.hub.subscribers
    if len(open_streams) >= settings.max_streams:
        raise TooManyStreams(f"the API serves at most {settings.max_streams} live streams")
    if sum(s.key == key for s in open_streams) >= settings.max_streams_per_key:
        raise TooManyStreams(f"at most {settings.max_streams_per_key} live streams per key")

    async def events() -> AsyncIterator[str]:
        async with state.hub.subscribe(frozenset(sel.sites), devices, key) as sub:
            state.metrics.stream_clients.inc()
            loop = asyncio.get_running_loop()
            checked = loop.time()
            try:
                yield "retry: 3000\n\n"
                while not await request.is_disconnected():
                    if loop.time() - checked >= heartbeat:  # a revoked key's stream ends
                        if not state.keys.is_active(key):
                            yield "event: revoked\ndata: {}\n\n"
                            return
                        checked = loop.time()
                    try:
                        event, data = await asyncio.wait_for(sub.queue.get(), heartbeat)
                    except TimeoutError:
                        yield ": heartbeat\n\n"
                        continue
                    yield f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
            finally:
                state.metrics.stream_clients.dec()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
