"""Router tests: the real app over an in-memory store, with keys of every role and scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from peakline_api.app import create_app
from peakline_api.demo_data import reading_rows, report_rows
from peakline_api.keys import KeyStore
from peakline_api.registry import Registry
from peakline_api.settings import ApiSettings
from peakline_core.config import PlatformConfig
from tests.unit.api.api_fakes import MemoryStore
from tests.unit.api.api_support import HOUR, KEYS, NOW_NS, Api, example_config


@pytest.fixture(scope="session")
def platform_config(repo_root: Path) -> PlatformConfig:
    return example_config(repo_root / "config")


@pytest.fixture
async def api(tmp_path: Path, platform_config: PlatformConfig) -> AsyncIterator[Api]:
    store = MemoryStore()
    registry = Registry.from_config(platform_config)
    await store.write(list(reading_rows(registry, NOW_NS - 2 * HOUR, NOW_NS, 60)))
    await store.write(list(report_rows(registry, NOW_NS - 48 * HOUR, NOW_NS)))
    keys_db = tmp_path / "keys.db"
    tokens = {}
    with KeyStore(keys_db) as keys:
        for name, (role, cities) in KEYS.items():
            tokens[name] = keys.create(name, role, cities)[1]
    settings = ApiSettings(config_dir=platform_config.root, store_url="memory:", keys_db=keys_db)
    app = create_app(settings, store=store, config=platform_config, clock_ns=lambda: NOW_NS)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield Api(client, store, tokens)
