"""The edge agent's command executor and its durable revert-after holds."""

from peakline_edge.control.executor import (
    CommandExecutor,
    ExecutorStats,
    PointWriter,
    Publish,
    Target,
    confirmed,
)
from peakline_edge.control.holds import Hold, HoldStore, HoldStoreError

__all__ = [
    "CommandExecutor",
    "ExecutorStats",
    "Hold",
    "HoldStore",
    "HoldStoreError",
    "PointWriter",
    "Publish",
    "Target",
    "confirmed",
]
