"""Batch processors: work done on each validated batch before it is written.

The pipeline calls every processor in order with the batch's accepted messages and their
`reading` block; each returns extra rows to write in the same batch (anomaly scores, derived
energy, ...) and messages to publish once the batch is stored (anomaly events). Adding a
processor never touches the subscriber or the writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from peakline_core.storage import Row, RowBlock
from peakline_ingest.validate import Accepted


@dataclass(frozen=True, slots=True)
class Publication:
    """An MQTT message to publish (QoS 1) after the batch is stored."""

    topic: str
    payload: bytes
    retain: bool = False


@dataclass(slots=True)
class ProcessorOutput:
    rows: list[Row] = field(default_factory=list)
    publications: list[Publication] = field(default_factory=list)


class BatchProcessor(Protocol):
    """Turns a validated batch into extra rows and publications; must not raise for bad data."""

    name: str

    def process(self, messages: Sequence[Accepted], block: RowBlock) -> ProcessorOutput: ...
