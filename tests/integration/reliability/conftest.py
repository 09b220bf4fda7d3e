"""The reliability suite reuses the edge tests' agent-process harness and the ingest helpers."""

from __future__ import annotations

import sys
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[2]
for extra in (
    _TESTS / "integration" / "edge",
    _TESTS / "integration" / "ingest",
    _TESTS / "integration" / "api",  # the bad-input API test builds its app like the API suite
):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))
