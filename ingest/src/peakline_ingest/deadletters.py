"""Dead letters: rejected input published with its reason, or parked on disk when it cannot be.

A rejected message is acknowledged only after its dead letter was published with QoS 1 (the
broker has it) or appended and fsynced to the park file, which is replayed on reconnect.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog

from peakline_core.wire import Topics, dead_letter, encode

Publish = Callable[[str, bytes], Awaitable[None]]
log = structlog.get_logger("peakline.ingest.deadletters")


class DeadLetters:
    """Publishes dead letters to `{prefix}/v1/dead/ingest`; parks them in `park_path` on failure."""

    component = "ingest"

    def __init__(self, topics: Topics, park_path: Path) -> None:
        self.topic = topics.dead_letter(self.component)
        self.park_path = park_path
        self._publish: Publish | None = None
        self.parked = 0

    def connected(self, publish: Publish | None) -> None:
        self._publish = publish

    async def send(self, reason: str, detail: str, topic: str, payload: bytes, ts: int) -> None:
        """Publish (or park) one dead letter; returns once it is durable either way."""
        body = encode(dead_letter(self.component, reason, detail, topic, payload, ts))
        if self._publish is not None:
            try:
                await self._publish(self.topic, body)
                return
            except Exception as exc:
                log.warning("dead letter publish failed, parking", error=str(exc))
        self._park(body)

    def _park(self, body: bytes) -> None:
        self.park_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.park_path, "ab") as f:
            f.write(body + b"\n")
            f.flush()
            os.fsync(f.fileno())
        self.parked += 1

    async def replay(self) -> int:
        """Publish parked dead letters (after a reconnect); returns how many were sent."""
        if self._publish is None or not self.park_path.exists():
            return 0
        lines = [x for x in self.park_path.read_bytes().split(b"\n") if x]
        for line in lines:
            await self._publish(self.topic, line)
        self.park_path.unlink()
        return len(lines)
