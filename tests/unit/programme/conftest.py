"""Programme tests reuse the API tests' fakes and helpers (in-memory store, example config)."""

from __future__ import annotations

import sys
from pathlib import Path

_API = Path(__file__).resolve().parents[1] / "api"
if str(_API) not in sys.path:
    sys.path.insert(0, str(_API))
