"""Wire payloads, version 1: JSON encoded and decoded with msgspec (fast, and it validates).

Every decode function takes raw bytes and either returns a typed message or raises
PayloadError with a stable `reason`: `oversize`, `malformed`, `schema`, `unsupported_version`.
Every top-level message carries `"v": 1` (msgspec's tag field). Unknown fields are ignored so
that a v1 reader accepts additive v1 extensions.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Final, TypeVar

import msgspec

from peakline_core.errors import PayloadError
from peakline_core.wire.ids import ID_PATTERN, POINT_PATTERN

WIRE_VERSION: Final = 1
MAX_PAYLOAD_BYTES: Final = 1 << 20
"""Largest payload any peakline service accepts (1 MiB)."""
MAX_READINGS_PER_BATCH: Final = 20_000

# msgspec matches with `re.search`, where `$` also matches before a trailing newline: anchor
# at the true end (`\Z`) so "m1\n" is not an id (it would reach topics and line protocol).
Id = Annotated[str, msgspec.Meta(pattern=ID_PATTERN.removesuffix("$") + r"\Z")]
PointName = Annotated[str, msgspec.Meta(pattern=POINT_PATTERN.removesuffix("$") + r"\Z")]
UtcNs = Annotated[int, msgspec.Meta(ge=0, le=(1 << 63) - 1)]
"""A UTC timestamp in integer nanoseconds since the Unix epoch."""
Text = Annotated[str, msgspec.Meta(max_length=1024)]
Value = float | int | bool | str | None
"""A reading or command value. Non-finite floats cannot be carried: JSON has no NaN."""


class Quality(StrEnum):
    GOOD = "good"
    STALE = "stale"  # the device answered but the value did not refresh (or is a held last value)
    ERROR = "error"  # the read failed; value is null


class _Message(msgspec.Struct, frozen=True, omit_defaults=True, tag_field="v", tag=WIRE_VERSION):
    """Base of top-level messages: each carries `"v": 1` first."""


class Reading(msgspec.Struct, frozen=True, omit_defaults=True):
    """One point's value at its source timestamp (the time its request was sent)."""

    point: PointName
    ts: UtcNs
    value: Value
    quality: Quality = Quality.GOOD
    unit: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class TelemetryBatch(
    msgspec.Struct, frozen=True, omit_defaults=True, tag_field="v", tag=WIRE_VERSION
):
    """Readings of one device, sent by one agent. `seq` rises by one per batch per agent."""

    agent: Id
    site: Id
    device: Id
    seq: Annotated[int, msgspec.Meta(ge=0)]
    sent: UtcNs
    readings: Annotated[
        list[Reading], msgspec.Meta(min_length=1, max_length=MAX_READINGS_PER_BATCH)
    ]


class AgentState(_Message, frozen=True):
    """Retained on the agent topic: `online` as birth, `offline` as last will or on shutdown.

    An online agent republishes it when its spool depth changes (readings waiting to be sent and
    the age of the oldest, in seconds), so the platform sees a gateway's backlog; both are
    absent from older agents and from the last will."""

    agent: Id
    state: Annotated[str, msgspec.Meta(pattern="^(online|offline)$")]
    ts: UtcNs
    version: Text = ""
    spool_readings: Annotated[int, msgspec.Meta(ge=0)] | None = None
    spool_oldest_age_s: Annotated[float, msgspec.Meta(ge=0)] | None = None


class DeviceStatus(
    msgspec.Struct, frozen=True, omit_defaults=True, tag_field="v", tag=WIRE_VERSION
):
    """Retained on the status topic; published on change only (one message per transition)."""

    agent: Id
    site: Id
    device: Id
    state: Annotated[str, msgspec.Meta(pattern="^(online|unavailable|offline)$")]
    ts: UtcNs
    reason: Text | None = None
    last_ok: UtcNs | None = None


class CommandState(StrEnum):
    ACCEPTED = "accepted"  # validated and recorded by the API
    SENT = "sent"  # published to the device's command topic
    APPLIED = "applied"  # written and confirmed by read-back
    REJECTED = "rejected"  # refused by validation (API or edge), never written
    FAILED = "failed"  # written but not confirmed, or the device did not answer
    EXPIRED = "expired"  # not executed before its expiry
    REVERTED = "reverted"  # a revert-after hold ended and the previous value was restored

    @property
    def final(self) -> bool:
        return self not in (CommandState.ACCEPTED, CommandState.SENT)


class Command(_Message, frozen=True):
    """Write one point of one device. The edge validates it again against the profile."""

    id: Id
    site: Id
    device: Id
    point: PointName
    value: float | int | bool
    issued_at: UtcNs
    expires_at: UtcNs
    issuer: Text
    idempotency_key: Text | None = None
    dry_run: bool = False
    revert_after_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    origin: Text | None = None  # e.g. "dr:<event id>" for demand-response actions


class CommandAck(_Message, frozen=True):
    """The edge's report of a command's outcome (or of a revert)."""

    id: Id
    agent: Id
    site: Id
    device: Id
    point: PointName
    state: CommandState
    ts: UtcNs
    reason: Text | None = None
    readback: Value = None
    previous: Value = None


class AnomalyEventMessage(
    msgspec.Struct, frozen=True, omit_defaults=True, tag_field="v", tag=WIRE_VERSION
):
    """An anomaly event opened or closed by the platform's detectors."""

    event_id: Id
    site: Id
    device: Id
    point: PointName
    kind: Text
    state: Annotated[str, msgspec.Meta(pattern="^(open|closed)$")]
    start: UtcNs
    peak_score: Annotated[float, msgspec.Meta(ge=0, le=1)]
    end: UtcNs | None = None
    # Optional (older consumers ignore them): every point of the device the
    # incident involves, the expected range and what was seen (the lead point's units)
    points: list[PointName] | None = None
    expected_low: float | None = None
    expected_high: float | None = None
    seen: float | None = None
    # Optional (issue 18): the command that explains the incident (a writable point's change
    # of value from `cause_from` to `cause_to`, first read at `cause_at`); such an incident
    # raises no alert
    cause_point: PointName | None = None
    cause_from: float | None = None
    cause_to: float | None = None
    cause_at: UtcNs | None = None


class DeadLetter(_Message, frozen=True):
    """Rejected input, parked with its reason so that nothing is lost silently."""

    component: Id
    reason: Text
    detail: Text
    topic: str
    ts: UtcNs
    payload: str = ""  # the rejected payload, UTF-8 with replacement, cut to 64 KiB
    payload_size: int = 0


_ENCODER: Final = msgspec.json.Encoder()
T = TypeVar("T", bound=msgspec.Struct)


def encode(message: msgspec.Struct) -> bytes:
    """Encode any wire message to JSON bytes."""
    return _ENCODER.encode(message)


def _decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    return msgspec.json.Decoder(kind)


_DECODERS: Final[dict[type[Any], msgspec.json.Decoder[Any]]] = {
    kind: _decoder(kind) for kind in (TelemetryBatch, AgentState, DeviceStatus, Command, CommandAck)
}


def _decode(kind: type[T], data: bytes | bytearray | memoryview) -> T:
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadError("oversize", f"{len(data)} bytes > {MAX_PAYLOAD_BYTES}")
    try:
        message: T = _DECODERS[kind].decode(data)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if text.endswith("at `$.v`") and "missing" not in text:
            raise PayloadError("unsupported_version", f"{text}; this reader speaks v1") from None
        raise PayloadError("schema", text) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # invalid UTF-8 in a string
        raise PayloadError("malformed", str(exc)) from None
    except RecursionError:
        # msgspec recurses into unknown fields while skipping them: a deeply nested value
        # (10k levels of `[`) must be bad input, not a crash of the service decoding it.
        raise PayloadError("malformed", "JSON nested too deeply") from None
    return message


def decode_telemetry(data: bytes | bytearray | memoryview) -> TelemetryBatch:
    """Decode a telemetry batch; raises PayloadError."""
    return _decode(TelemetryBatch, data)


def decode_agent_state(data: bytes | bytearray | memoryview) -> AgentState:
    return _decode(AgentState, data)


def decode_device_status(data: bytes | bytearray | memoryview) -> DeviceStatus:
    return _decode(DeviceStatus, data)


def decode_command(data: bytes | bytearray | memoryview) -> Command:
    """Decode a command; raises PayloadError (the edge acks such commands as rejected)."""
    return _decode(Command, data)


def decode_ack(data: bytes | bytearray | memoryview) -> CommandAck:
    return _decode(CommandAck, data)


def dead_letter(
    component: str, reason: str, detail: str, topic: str, payload: bytes, ts: int
) -> DeadLetter:
    """Build a dead letter for a rejected payload (payload text cut to 64 KiB)."""
    text = bytes(payload[: 64 * 1024]).decode("utf-8", errors="replace")
    return DeadLetter(
        component=component,
        reason=reason[:1024],
        detail=detail[:1024],
        topic=topic[:1024],
        ts=ts,
        payload=text,
        payload_size=len(payload),
    )
