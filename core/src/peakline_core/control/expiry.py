"""Command expiry: every command carries an absolute deadline (UTC ns) set by the API."""

from __future__ import annotations

from typing import Final

from peakline_core.control.errors import CommandExpired, CommandRejected

MIN_EXPIRES_IN_S: Final = 1.0
MAX_EXPIRES_IN_S: Final = 24 * 3600.0
DEFAULT_EXPIRES_IN_S: Final = 60.0


def expires_at_ns(issued_at_ns: int, expires_in_s: float) -> int:
    """Deadline (UTC ns) of a command issued at `issued_at_ns` valid for `expires_in_s` s.

    Raises CommandRejected(`bad_value`) outside [1 s, 24 h]: a command that lives forever is
    the one that fires long after its operator forgot it.
    """
    if not MIN_EXPIRES_IN_S <= expires_in_s <= MAX_EXPIRES_IN_S:
        raise CommandRejected(
            "bad_value",
            f"expires_in_s {expires_in_s} outside [{MIN_EXPIRES_IN_S}, {MAX_EXPIRES_IN_S}]",
        )
    return issued_at_ns + round(expires_in_s * 1e9)


def check_not_expired(expires_at: int, now_ns: int) -> None:
    """Raise CommandExpired when `now_ns` (UTC ns) is at or past `expires_at` (UTC ns)."""
    if now_ns >= expires_at:
        late_s = (now_ns - expires_at) / 1e9
        raise CommandExpired(f"expired {late_s:.3f} s before execution")
