"""Telemetry payloads decoded for ingest: the v1 contract's schema, cheaper to decode and hold.

`TelemetryDecoder.decode(payload)` returns an `IngestBatch`, the fields of the contract's
`TelemetryBatch` (`peakline_core.wire`) decoded into structs the garbage collector does not
track (a worker holds tens of thousands of readings between receipt and the durable write,
and collections walking them were a large part of its time), quality as a plain string, and
point names checked against the contract's own pattern once per distinct name (a device
sends the same points batch after batch) instead of by one regex search per reading.

It accepts exactly the payloads `decode_telemetry` accepts. Whatever it refuses (oversize,
malformed, schema, version, a point name never seen valid that fails the pattern) is decoded
again by `decode_telemetry`, which raises the contract's PayloadError: reasons and details
of rejections are always the contract's own.
"""

from __future__ import annotations

import re
from operator import attrgetter
from typing import Annotated, Final, Literal, get_args

import msgspec

from peakline_core.wire import decode_telemetry
from peakline_core.wire.payloads import (
    MAX_PAYLOAD_BYTES,
    MAX_READINGS_PER_BATCH,
    WIRE_VERSION,
    Id,
    PointName,
    UtcNs,
    Value,
)

_POINT_RE: Final = re.compile(get_args(PointName)[1].pattern)  # the contract's, as msgspec uses it
_POINT: Final = attrgetter("point")


class IngestReading(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """`peakline_core.wire.Reading` as ingest holds it (point checked by TelemetryDecoder)."""

    point: str
    ts: UtcNs
    value: Value
    quality: Literal["good", "stale", "error"] = "good"
    unit: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class IngestBatch(
    msgspec.Struct, frozen=True, omit_defaults=True, gc=False, tag_field="v", tag=WIRE_VERSION
):
    """`peakline_core.wire.TelemetryBatch` as ingest holds it."""

    agent: Id
    site: Id
    device: Id
    seq: Annotated[int, msgspec.Meta(ge=0)]
    sent: UtcNs
    readings: Annotated[
        list[IngestReading], msgspec.Meta(min_length=1, max_length=MAX_READINGS_PER_BATCH)
    ]


class TelemetryDecoder:
    """Decodes telemetry; remembers up to `known_points` valid point names (then starts over)."""

    def __init__(self, known_points: int = 100_000) -> None:
        self._decoder = msgspec.json.Decoder(IngestBatch)
        self._limit = known_points
        self._known: set[str] = set()

    def decode(self, payload: bytes) -> IngestBatch:
        """The batch; raises the contract's PayloadError for anything it would refuse."""
        if len(payload) <= MAX_PAYLOAD_BYTES:
            try:
                batch = self._decoder.decode(payload)
            except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
                pass  # msgspec.ValidationError is a DecodeError
            else:
                if self._points_valid(batch):
                    return batch
        reference = decode_telemetry(payload)  # raises the contract's own PayloadError
        # Not expected (same schema, same pattern), but the contract is the reference.
        return IngestBatch(
            reference.agent, reference.site, reference.device, reference.seq, reference.sent,
            [IngestReading(r.point, r.ts, r.value, r.quality.value, r.unit)
             for r in reference.readings],
        )  # fmt: skip

    def _points_valid(self, batch: IngestBatch) -> bool:
        names = set(map(_POINT, batch.readings))
        if names <= self._known:
            return True
        new = names - self._known
        if not all(_POINT_RE.search(name) is not None for name in new):
            return False
        if len(self._known) + len(new) > self._limit:
            self._known.clear()
        self._known |= new
        return True
