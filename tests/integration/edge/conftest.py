"""Edge integration tests share the unit tests' Modbus TCP peer."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "edge"))
