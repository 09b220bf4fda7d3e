"""The control error tree: why a command is refused (a stable `reason` plus a detail)."""

from __future__ import annotations

from peakline_core.errors import PeaklineError


class CommandRejected(PeaklineError):
    """A command failed validation and must never be written.

    `reason` is a short stable code (ledger column, metrics label, ack reason prefix):
    `mismatch`, `read_only`, `unknown_point`, `not_writable`, `bad_value`, `out_of_range`,
    `off_step`, `rate_of_change`, `rate_limited`, `expired`, `duplicate`.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class CommandExpired(CommandRejected):
    """The command's expiry passed before it could be executed (state `expired`)."""

    def __init__(self, detail: str) -> None:
        super().__init__("expired", detail)
