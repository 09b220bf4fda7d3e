"""Validation of one telemetry message (pure: bytes, topic and time in; columns or a reason).

Every rejection is a `Rejected(reason, detail)` with a stable reason code, used as a metrics
label and in the dead letter: the wire decoder's `oversize`, `malformed`, `schema`,
`unsupported_version`, and here `bad_topic`, `topic_mismatch`, `unknown_device`,
`non_finite`, `timestamp_future`, `timestamp_past`, `duplicate`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from peakline_core.errors import PayloadError, TopicError
from peakline_core.storage.schema import QualityCode
from peakline_core.wire import Quality, TopicKind, Topics
from peakline_ingest.decode import IngestBatch, TelemetryDecoder
from peakline_ingest.errors import IngestError

NS: Final = 1_000_000_000
_QUALITY_CODE: Final = {q: int(QualityCode.of(q)) for q in Quality}


class Rejected(IngestError):
    """A message that will not be stored; `reason` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """What the config registry says about a device: its site and the agent that polls it."""

    site: str
    agent: str


class BatchHeader(Protocol):
    """What the pipeline needs of a message's batch (a `TelemetryBatch` or `IngestBatch`)."""

    @property
    def agent(self) -> str: ...
    @property
    def site(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def seq(self) -> int: ...
    @property
    def sent(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Accepted:
    """A valid message as columns of the `reading` measurement (one entry per reading)."""

    batch: BatchHeader
    points: list[str]
    value: npt.NDArray[np.float64]  # NaN where the reading has no numeric value
    quality: npt.NDArray[np.int64]
    text: list[str | None]  # string values (None elsewhere)
    ts: npt.NDArray[np.int64]  # UTC ns

    @property
    def has_text(self) -> bool:
        return self.text.count(None) != len(self.text)  # C-level scan, no generator


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on reading timestamps relative to ingest's clock (seconds)."""

    max_future_s: float = 300.0
    max_past_s: float = 90 * 86400.0  # an edge spool may hold weeks of readings


class SeqWindow:
    """Recently *stored* sequence numbers per agent, bounded in agents and seqs per agent.

    Best-effort duplicate detection: storage idempotency is the real guarantee. A seq is
    remembered only after its readings were stored, so a redelivered message whose first
    copy is still in flight is written again (harmlessly) instead of being dropped.
    """

    def __init__(self, per_agent: int = 4096, agents: int = 100_000) -> None:
        self._per_agent = per_agent
        self._agents = agents
        self._seen: OrderedDict[str, OrderedDict[int, None]] = OrderedDict()

    def seen(self, agent: str, seq: int) -> bool:
        window = self._seen.get(agent)
        return window is not None and seq in window

    def commit(self, agent: str, seq: int) -> None:
        window = self._seen.get(agent)
        if window is None:
            window = self._seen[agent] = OrderedDict()
            if len(self._seen) > self._agents:
                self._seen.popitem(last=False)
        else:
            self._seen.move_to_end(agent)
        window[seq] = None
        if len(window) > self._per_agent:
            window.popitem(last=False)


_VALUE: Final = attrgetter("value")
_POINT: Final = attrgetter("point")
_QUALITY: Final = attrgetter("quality")
_TS: Final = attrgetter("ts")


def _columns(batch: IngestBatch) -> Accepted:
    readings = batch.readings
    n = len(readings)
    # map/attrgetter keep the per-reading work in C (this runs for every reading stored).
    raw = list(map(_VALUE, readings))
    text: list[str | None] = [v if type(v) is str else None for v in raw]
    has_text = text.count(None) != n
    numeric = [None if type(v) is str else v for v in raw] if has_text else raw
    try:
        value = np.array(numeric, dtype=np.float64)  # None -> NaN, bool -> 0/1
    except OverflowError:
        raise Rejected("non_finite", "an integer value does not fit a float") from None
    return Accepted(
        batch=batch,
        points=list(map(_POINT, readings)),
        value=value,
        quality=np.fromiter(
            map(_QUALITY_CODE.__getitem__, map(_QUALITY, readings)), dtype=np.int64, count=n
        ),
        text=text,
        ts=np.fromiter(map(_TS, readings), dtype=np.int64, count=n),
    )


class Validator:
    """Decodes and checks telemetry; `devices` None accepts any device (no registry given)."""

    def __init__(
        self,
        topics: Topics,
        devices: Mapping[str, DeviceIdentity] | None = None,
        limits: Limits | None = None,
        window: SeqWindow | None = None,
    ) -> None:
        self.topics = topics
        self.devices = devices
        self.limits = limits or Limits()
        self.window = window or SeqWindow()
        self.decoder = TelemetryDecoder()

    def validate(self, topic: str, payload: bytes, now_ns: int) -> Accepted:
        """Columns of a valid message; raises Rejected. `now_ns` is ingest's clock, UTC ns."""
        try:
            parsed = self.topics.parse(topic)
        except TopicError as exc:
            raise Rejected("bad_topic", str(exc)) from None
        if parsed.kind is not TopicKind.TELEMETRY:
            raise Rejected("bad_topic", f"{topic!r} is not a telemetry topic")
        try:
            batch = self.decoder.decode(payload)
        except PayloadError as exc:
            # msgspec refuses 1e999 and friends (JSON has no inf/NaN): name it for what it is.
            reason = "non_finite" if "Number out of range" in exc.detail else exc.reason
            raise Rejected(reason, exc.detail) from None
        if (batch.site, batch.device) != (parsed.site, parsed.device):
            raise Rejected(
                "topic_mismatch",
                f"payload is {batch.site}/{batch.device}, topic is {parsed.site}/{parsed.device}",
            )
        if self.devices is not None:
            known = self.devices.get(batch.device)
            if known is None or known.site != batch.site or known.agent != batch.agent:
                raise Rejected(
                    "unknown_device",
                    f"device {batch.device!r} of site {batch.site!r} via agent {batch.agent!r}"
                    " is not in the registry",
                )
        if self.window.seen(batch.agent, batch.seq):
            raise Rejected("duplicate", f"agent {batch.agent!r} seq {batch.seq} already stored")
        accepted = _columns(batch)
        if np.isinf(accepted.value).any():
            raise Rejected("non_finite", "a reading value is infinite")
        ts = accepted.ts
        if int(ts.max()) > now_ns + int(self.limits.max_future_s * NS):
            raise Rejected("timestamp_future", f"reading at {int(ts.max())} ns is in the future")
        if int(ts.min()) < now_ns - int(self.limits.max_past_s * NS):
            raise Rejected("timestamp_past", f"reading at {int(ts.min())} ns is too old")
        return accepted
