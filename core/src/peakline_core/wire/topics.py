"""MQTT topic scheme, version 1.

    {prefix}/v1/tele/{site}/{device}     telemetry batches, edge -> platform (QoS 1)
    {prefix}/v1/status/{site}/{device}   device availability, retained
    {prefix}/v1/agent/{agent}            agent birth / last will, retained
    {prefix}/v1/cmd/{site}/{device}      commands, platform -> edge (QoS 1)
    {prefix}/v1/ack/{site}/{device}      command acknowledgements, edge -> platform (QoS 1)
    {prefix}/v1/event/{site}/{device}    anomaly events, platform -> anyone
    {prefix}/v1/dead/{component}         dead letters (rejected input, with a reason)
    {prefix}/v1/grid/{region}            grid carbon intensity, signal provider -> platform (QoS 1)

The kind comes before the ids so that one wildcard subscription selects one kind, and so that a
broker ACL can grant a gateway exactly its own devices' topics.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from peakline_core.errors import TopicError
from peakline_core.wire.ids import is_valid_id

TOPIC_VERSION = "v1"


class TopicKind(StrEnum):
    TELEMETRY = "tele"
    STATUS = "status"
    AGENT = "agent"
    COMMAND = "cmd"
    ACK = "ack"
    EVENT = "event"
    DEAD = "dead"
    GRID = "grid"


_DEVICE_KINDS = frozenset(
    {TopicKind.TELEMETRY, TopicKind.STATUS, TopicKind.COMMAND, TopicKind.ACK, TopicKind.EVENT}
)


@dataclass(frozen=True, slots=True)
class ParsedTopic:
    kind: TopicKind
    site: str | None = None
    device: str | None = None
    name: str | None = None  # agent id for AGENT, component for DEAD, region for GRID


@dataclass(frozen=True, slots=True)
class Topics:
    """Builds and parses topics under one prefix (tests use a unique prefix per test)."""

    prefix: str = "peakline"

    def __post_init__(self) -> None:
        if not self.prefix or any(c in self.prefix for c in "+#\0") or self.prefix.endswith("/"):
            raise TopicError(f"invalid topic prefix {self.prefix!r}")

    @property
    def root(self) -> str:
        return f"{self.prefix}/{TOPIC_VERSION}"

    def _device(self, kind: TopicKind, site: str, device: str) -> str:
        for label, value in (("site", site), ("device", device)):
            if not is_valid_id(value):
                raise TopicError(f"invalid {label} id {value!r}: expected [A-Za-z0-9_-]{{1,64}}")
        return f"{self.root}/{kind.value}/{site}/{device}"

    def telemetry(self, site: str, device: str) -> str:
        return self._device(TopicKind.TELEMETRY, site, device)

    def status(self, site: str, device: str) -> str:
        return self._device(TopicKind.STATUS, site, device)

    def command(self, site: str, device: str) -> str:
        return self._device(TopicKind.COMMAND, site, device)

    def ack(self, site: str, device: str) -> str:
        return self._device(TopicKind.ACK, site, device)

    def event(self, site: str, device: str) -> str:
        return self._device(TopicKind.EVENT, site, device)

    def agent(self, agent: str) -> str:
        if not is_valid_id(agent):
            raise TopicError(f"invalid agent id {agent!r}")
        return f"{self.root}/{TopicKind.AGENT.value}/{agent}"

    def dead_letter(self, component: str) -> str:
        if not is_valid_id(component):
            raise TopicError(f"invalid component name {component!r}")
        return f"{self.root}/{TopicKind.DEAD.value}/{component}"

    def grid(self, region: str) -> str:
        """Where a region's grid carbon intensity is published (docs/mqtt.md)."""
        if not is_valid_id(region):
            raise TopicError(f"invalid grid region {region!r}")
        return f"{self.root}/{TopicKind.GRID.value}/{region}"

    def filter(self, kind: TopicKind, site: str = "+", device: str = "+") -> str:
        """A subscription filter for one kind, optionally narrowed to a site or device."""
        if kind in _DEVICE_KINDS:
            return f"{self.root}/{kind.value}/{site}/{device}"
        return f"{self.root}/{kind.value}/+"

    def shared(self, group: str, topic_filter: str) -> str:
        """An MQTT 5 shared subscription: workers in one group split the stream."""
        if not is_valid_id(group):
            raise TopicError(f"invalid shared subscription group {group!r}")
        return f"$share/{group}/{topic_filter}"

    def parse(self, topic: str) -> ParsedTopic:
        """Split a topic into its kind and ids; raises TopicError when it is not ours."""
        head = self.root + "/"
        if not topic.startswith(head):
            raise TopicError(f"topic {topic!r} is not under {self.root!r}")
        parts = topic[len(head) :].split("/")
        try:
            kind = TopicKind(parts[0])
        except ValueError:
            raise TopicError(f"unknown topic kind {parts[0]!r} in {topic!r}") from None
        if kind in _DEVICE_KINDS:
            if len(parts) != 3 or not is_valid_id(parts[1]) or not is_valid_id(parts[2]):
                raise TopicError(f"expected {kind.value}/<site>/<device>, got {topic!r}")
            return ParsedTopic(kind, site=parts[1], device=parts[2])
        if len(parts) != 2 or not is_valid_id(parts[1]):
            raise TopicError(f"expected {kind.value}/<id>, got {topic!r}")
        return ParsedTopic(kind, name=parts[1])
