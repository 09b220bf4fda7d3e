"""Identifier rules shared by topics, payloads and config: ids are safe MQTT path segments."""

from __future__ import annotations

import re

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""Site, device, agent, city and district ids: they become MQTT topic segments and tags."""

POINT_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
"""Point names (a register map's points, e.g. `power_l1_w`, `temp.zone1`)."""

_ID_RE = re.compile(ID_PATTERN)
_POINT_RE = re.compile(POINT_PATTERN)


def is_valid_id(value: str) -> bool:
    """True when `value` may be used as a site/device/agent id."""
    return _ID_RE.fullmatch(value) is not None


def is_valid_point(value: str) -> bool:
    """True when `value` may be used as a point name."""
    return _POINT_RE.fullmatch(value) is not None
