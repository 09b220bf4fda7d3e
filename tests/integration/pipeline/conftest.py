"""The pipeline tests reuse the edge tests' agent-process harness and the API test helpers."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[2]
for extra in (
    _TESTS / "unit" / "edge",
    _TESTS / "integration" / "edge",
    _TESTS / "unit" / "api",
    _TESTS / "integration" / "api",
):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))
