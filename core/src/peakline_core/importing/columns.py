"""Column mapping: which header is the timestamp, which the value (given, else inferred)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from peakline_core.importing.errors import ImportSpecError

_TIME_HINT = re.compile(r"time|date|interval|start|period|read", re.I)


def index_of(header: Sequence[str], name: str, role: str) -> int:
    """The index of column `name` (case- and space-insensitive), or a spec error naming the
    columns the file has."""
    want = name.strip().lower()
    for i, h in enumerate(header):
        if h.strip().lower() == want:
            return i
    raise ImportSpecError(f"no column {name!r} for {role}: the file has {list(header)}")


def resolve(
    header: Sequence[str],
    mapping: Mapping[str, str],
    required: Sequence[str],
    guess: Mapping[str, re.Pattern[str]],
) -> dict[str, int]:
    """Role -> column index: mapped roles by name, unmapped ones by the first unused header
    that matches the role's pattern; a required role found neither way is a spec error."""
    out: dict[str, int] = {}
    for role, name in mapping.items():
        out[role] = index_of(header, name, role)
    for role, pattern in guess.items():
        if role in out:
            continue
        used = set(out.values())
        hit = next((i for i, h in enumerate(header) if i not in used and pattern.search(h)), None)
        if hit is not None:
            out[role] = hit
    missing = [r for r in required if r not in out]
    if missing:
        raise ImportSpecError(
            f"cannot tell which column is {', '.join(missing)}: give "
            f"--column {missing[0]}=<header> (the file has {list(header)})"
        )
    return out


TIME_COLUMN = _TIME_HINT
