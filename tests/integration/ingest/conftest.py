"""Fixtures shared by the store tests of this folder."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from peakline_store import InfluxStore, SqliteStore


@pytest.fixture(params=["sqlite", "influx"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    """Each test once on an SQLite file and once on a fresh database of a real influxd."""
    if request.param == "sqlite":
        s: SqliteStore | InfluxStore = SqliteStore(tmp_path / "store.db")
    else:
        db = request.getfixturevalue("influx_db")
        s = InfluxStore(db.url, db.database)
    try:
        yield s
    finally:
        await s.aclose()
