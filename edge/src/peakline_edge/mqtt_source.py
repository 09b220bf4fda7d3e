"""MQTT-native sensors: map the JSON an off-the-shelf sensor publishes to readings.

`map_payload` is pure (bytes in, readings out); `MqttSourceDevice` subscribes through the
uplink (or its own broker connection when the device names another broker) and hands batches
to the spool writer.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiomqtt
import msgspec
import structlog

from peakline_core.config.platform import Device, MqttSource
from peakline_core.config.profiles import MqttField, MqttProfile
from peakline_core.wire import MAX_PAYLOAD_BYTES, Quality, Reading
from peakline_core.wire.broker import BrokerAddress
from peakline_edge.errors import SourcePayloadError
from peakline_edge.spool import PendingBatch

Sink = Callable[[PendingBatch], Awaitable[None]]
MAX_TEXT_CHARS = 1024
"""Longest string value taken from a sensor (longer is an `error` reading, not a huge batch)."""
MAX_FUTURE_S = 300.0
MAX_AGE_S = 90 * 86400.0
"""Source timestamps further ahead of / behind the arrival time are rejected (`bad_timestamp`;
ingest's default bounds): ingest would dead-letter the whole batch they travel in."""


def _lookup(obj: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            raise KeyError(path)
        obj = obj[part]
    return obj


def _timestamp_ns(raw: Any) -> int:
    """ISO 8601 (naive means UTC) or epoch seconds -> UTC ns."""
    bad = f"timestamp {str(raw)[:64]!r} is not a time"
    if isinstance(raw, bool):
        raise SourcePayloadError("bad_timestamp", bad)
    if isinstance(raw, int | float):
        if not math.isfinite(raw) or raw < 0 or raw > 1e10:
            raise SourcePayloadError("bad_timestamp", bad)
        return round(raw * 1e9)
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return int(parsed.timestamp() * 1e6) * 1000
        except (ValueError, OverflowError) as exc:
            raise SourcePayloadError("bad_timestamp", f"{bad}: {exc}") from None
    raise SourcePayloadError("bad_timestamp", bad)


def _value(f: MqttField, raw: Any) -> float | bool | str:
    if f.dtype == "bool":
        if not isinstance(raw, bool | int) or isinstance(raw, float):
            raise TypeError
        return bool(raw)
    if f.dtype == "string":
        if isinstance(raw, dict | list) or len(text := str(raw)) > MAX_TEXT_CHARS:
            raise TypeError
        return text
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise TypeError
    return float(raw) * f.scale + f.offset


def map_payload(profile: MqttProfile, payload: bytes, received_ns: int) -> list[Reading]:
    """Readings for every configured field present in the JSON object.

    A field that is missing is skipped; one of the wrong type becomes an `error` reading. The
    timestamp is the payload's `timestamp_field` when configured, else `received_ns`.
    Raises SourcePayloadError when the payload is too big, not a JSON object, or its time is
    unreadable or implausible (see MAX_FUTURE_S, MAX_AGE_S).
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise SourcePayloadError("oversize", f"{len(payload)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        data = msgspec.json.decode(payload)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # also 1e400, invalid UTF-8
        raise SourcePayloadError("malformed", f"not JSON: {exc}") from None
    except RecursionError:
        raise SourcePayloadError("malformed", "JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise SourcePayloadError("not_object", "payload is not a JSON object")
    ts = received_ns
    if profile.timestamp_field is not None:
        try:
            ts = _timestamp_ns(_lookup(data, profile.timestamp_field))
        except KeyError:
            pass  # no source time in this message: use the arrival time
        if not received_ns - MAX_AGE_S * 1e9 <= ts <= received_ns + MAX_FUTURE_S * 1e9:
            raise SourcePayloadError("bad_timestamp", f"source time {ts} ns is implausible")
    out = []
    for f in profile.fields:
        try:
            raw = _lookup(data, f.field)
        except KeyError:
            continue
        unit = f.unit or None
        try:
            out.append(Reading(f.name, ts, _value(f, raw), Quality.GOOD, unit))
        except TypeError:
            out.append(Reading(f.name, ts, None, Quality.ERROR, unit))
    return out


class MqttSourceDevice:
    """One MQTT sensor: each message on its topic becomes one batch for the spool."""

    def __init__(
        self,
        device: Device,
        profile: MqttProfile,
        sink: Sink,
        on_error: Callable[[str], None],
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if not isinstance(device.connection, MqttSource):
            raise TypeError(f"{device.id} is not an MQTT device")
        self.device = device
        self.profile = profile
        self.topic = device.connection.topic
        self.broker = device.connection.broker
        self._sink = sink
        self._on_error = on_error
        self._clock = clock_ns  # arrival time (UTC ns): bounds the source's own timestamp
        self._log = structlog.get_logger("peakline.edge.mqtt_source").bind(device=device.id)

    async def handle(self, topic: str, payload: bytes) -> None:
        try:
            readings = map_payload(self.profile, payload, self._clock())
        except SourcePayloadError as exc:
            self._on_error(exc.reason)
            self._log.warning("sensor payload rejected", topic=topic, error=str(exc)[:300])
            return
        for r in readings:
            if r.quality is Quality.ERROR:
                self._on_error("field_type")
        if readings:
            await self._sink(PendingBatch(self.device.site, self.device.id, tuple(readings)))

    async def run_own_broker(self) -> None:
        """When the sensor lives on another broker: subscribe there, reconnecting with backoff."""
        address = BrokerAddress.parse(self.broker or "mqtt://127.0.0.1")
        client_tls = aiomqtt.TLSParameters() if address.tls else None  # system CA store
        backoff = 1.0
        while True:
            try:
                async with aiomqtt.Client(
                    address.host,
                    address.port,
                    username=address.username,
                    password=address.password,
                    tls_params=client_tls,
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    backoff = 1.0
                    async for message in client.messages:
                        payload = message.payload
                        data = payload if isinstance(payload, bytes) else str(payload).encode()
                        await self.handle(message.topic.value, data)
            except aiomqtt.MqttError as exc:
                self._log.warning("sensor broker unreachable", broker=str(address), error=str(exc))
                await asyncio.sleep(backoff)  # reconnect backoff
                backoff = min(backoff * 2, 60.0)
