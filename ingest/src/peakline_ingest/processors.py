"""Batch processors: work done on each batch once its readings are stored.

The pipeline calls every processor in order with the batch's accepted messages and their
`reading` block after the block's write succeeded (so a processor sees when the readings
became readable: `LateMarks` depends on it); each returns extra rows, written next, and
messages to publish. The workers' only processor is `LateMarks`: everything
derived from readings is the deriver's (peakline_ingest.derive). Adding a processor never
touches the subscriber or the writer.
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
