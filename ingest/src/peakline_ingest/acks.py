"""Acknowledgements to the broker, in the order the messages were received.

MQTT requires PUBACKs in receive order; a message is done when it was stored or
dead-lettered, and its PUBACK leaves only when every earlier message is done too. Packet ids
are only meaningful on the connection that delivered them: a new connection (generation)
forgets the old ones, whose messages the broker will deliver again.

A worker may hold more than one connection (the restart guard's session besides the
subscriber's): each has its own `OrderedAcks`, and a token is acknowledged on the connection
that registered it, whichever tracker the pipeline hands it back to.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class AckToken:
    generation: int
    mid: int
    qos: int
    done: bool = field(default=False)
    owner: OrderedAcks | None = field(default=None, repr=False)
    on_sent: Callable[[], None] | None = field(default=None, repr=False)  # after its PUBACK


class OrderedAcks:
    """Tracks received messages of the current connection and sends their acks in order."""

    def __init__(self) -> None:
        self.generation = 0
        self._pending: deque[AckToken] = deque()
        self._send: Callable[[int, int], object] | None = None

    def connected(self, send: Callable[[int, int], object]) -> None:
        """A new connection: `send(mid, qos)` sends a PUBACK on it (its return value is unused)."""
        self.generation += 1
        self._pending.clear()
        self._send = send

    def disconnected(self) -> None:
        self._pending.clear()
        self._send = None

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def register(self, mid: int, qos: int) -> AckToken:
        token = AckToken(self.generation, mid, qos, owner=self)
        if qos > 0:
            self._pending.append(token)
        return token

    def done(self, token: AckToken) -> None:
        """Mark a message stored or parked; send every ack that is now in order."""
        if token.owner is not None and token.owner is not self:
            token.owner.done(token)
            return
        token.done = True
        if token.generation != self.generation or token.qos == 0:
            return
        while self._pending and self._pending[0].done:
            head = self._pending.popleft()
            if self._send is not None:
                self._send(head.mid, head.qos)
                if head.on_sent is not None:
                    head.on_sent()
