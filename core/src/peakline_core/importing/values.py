"""Numbers in imported cells: "1234.5", "1,234.5" (thousands separators), blank = missing."""

from __future__ import annotations

import math
import re

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def number(text: str) -> float:
    """The cell's value; ValueError when it is not a finite number."""
    s = text.strip()
    try:
        v = float(s)  # the common case first: a separator makes float() refuse
    except ValueError:
        if not _THOUSANDS.match(s):
            raise
        v = float(s.replace(",", ""))
    if not math.isfinite(v):
        raise ValueError("finite")
    return v
