"""API against real servers: the SQLite and InfluxDB stores (ingest's) and mosquitto."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from peakline_core.config import PlatformConfig
from tests.integration.api.api_live_support import LiveApi, build, example_config


@pytest.fixture(scope="session")
def platform_config(repo_root: Path) -> PlatformConfig:
    return example_config(repo_root / "config")


@pytest.fixture(params=["sqlite", "influx"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A real store: an SQLite file, or a fresh database on the session influxd."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        db = request.getfixturevalue("influx_db")
        yield f"{db.url}?db={db.database}"


@pytest.fixture
async def live_api(
    tmp_path: Path, platform_config: PlatformConfig, store_url: str
) -> AsyncIterator[LiveApi]:
    app, tokens = await build(tmp_path, platform_config, store_url)
    async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield LiveApi(client, tokens, app)
