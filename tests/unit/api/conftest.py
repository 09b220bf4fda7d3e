"""Router tests: the real app over an in-memory store, with keys of every role and scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from api_fakes import MemoryStore

from peakline_api.app import create_app
from peakline_api.demo_data import reading_rows, report_rows
from peakline_api.keys import KeyStore, Role
from peakline_api.registry import Registry
from peakline_api.settings import ApiSettings
from peakline_core.config import PlatformConfig, load_config
from peakline_core.config.loader import PROFILE_ADAPTER, AgentsFile, DevicesFile, SitesFile
from peakline_core.config.platform import Programme

NOW_NS = 1_740_830_400 * 1_000_000_000  # 2025-03-01T12:00:00Z
HOUR = 3600 * 1_000_000_000


def example_config(root: Path) -> PlatformConfig:
    """The repository's example district (without emission factor sets if those cannot load)."""
    try:
        return load_config(root)
    except ModuleNotFoundError:  # emissions factors not landed yet: the registry needs none
        load = lambda name: yaml.safe_load((root / name).read_text())  # noqa: E731
        profiles = [
            PROFILE_ADAPTER.validate_python(yaml.safe_load(p.read_text()))
            for p in sorted((root / "profiles").glob("*.yaml"))
        ]
        return PlatformConfig(
            root=root,
            programme=Programme.model_validate(load("programme.yaml")),
            sites={s.id: s for s in SitesFile.model_validate(load("sites.yaml")).sites},
            devices={d.id: d for d in DevicesFile.model_validate(load("devices.yaml")).devices},
            agents={a.id: a for a in AgentsFile.model_validate(load("agents.yaml")).agents},
            profiles={p.name: p for p in profiles},
        )


@pytest.fixture(scope="session")
def platform_config(repo_root: Path) -> PlatformConfig:
    return example_config(repo_root / "config")


@dataclass
class Api:
    client: httpx.AsyncClient
    store: MemoryStore
    tokens: dict[str, str]

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def get(self, who: str, url: str, **kw: object) -> httpx.Response:
        return await self.client.get(url, headers=self.headers(who), **kw)  # type: ignore[arg-type]


KEYS = {
    "viewer_rt": (Role.VIEWER, ["riverton"]),
    "operator_rt": (Role.OPERATOR, ["riverton"]),
    "operator_lk": (Role.OPERATOR, ["lakeside"]),
    "viewer_all": (Role.VIEWER, ["*"]),
    "admin_all": (Role.ADMIN, ["*"]),
}


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
