"""Programme integration tests reuse the API tests' helpers (example config, keys)."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[2]
for extra in (
    _TESTS / "unit" / "api",
    _TESTS / "integration" / "api",
    _TESTS / "unit" / "programme",
):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))
