"""Shared by the API's unit and integration tests: example config, keys, fixed clock."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import yaml

from peakline_api.keys import Role
from peakline_core.config import PlatformConfig, load_config
from peakline_core.config.loader import PROFILE_ADAPTER, AgentsFile, DevicesFile, SitesFile
from peakline_core.config.platform import Programme
from tests.unit.api.api_fakes import MemoryStore

if TYPE_CHECKING:
    from peakline_api.access import Access
    from peakline_api.state import AppState

NOW_NS = 1_740_830_400 * 1_000_000_000  # 2025-03-01T12:00:00Z
HOUR = 3600 * 1_000_000_000
_SITES = yaml.safe_load((Path(__file__).resolve().parents[3] / "config/sites.yaml").read_text())


def sites_of(city: str | None = None) -> set[str]:
    """The example district's site ids (of one city), read from config/sites.yaml."""
    return {s["id"] for s in _SITES["sites"] if city is None or s["city"] == city}


def cities_of() -> set[str]:
    """The example district's city ids that have sites, read from config/sites.yaml."""
    return {s["city"] for s in _SITES["sites"]}


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


Auth = dict[str, dict[str, str]]


@contextlib.asynccontextmanager
async def memory_api(
    tmp_path: Path,
    config: PlatformConfig,
    store: MemoryStore,
    roles: dict[str, tuple[Role, list[str]]],
    now_ns: int = NOW_NS,
) -> AsyncIterator[tuple[httpx.AsyncClient, Auth]]:
    """The API (no dashboard) on `store` at a fixed clock, with a key per role: yields an
    in-process client and {name: Authorization header}."""
    from peakline_api.app import create_app
    from peakline_api.keys import KeyStore
    from peakline_api.settings import ApiSettings

    keys_db = tmp_path / "keys.db"
    with KeyStore(keys_db) as keys:
        auth = {
            n: {"Authorization": f"Bearer {keys.create(n, r, c)[1]}"} for n, (r, c) in roles.items()
        }
    settings = ApiSettings(config_dir=config.root, store_url="memory:", keys_db=keys_db,
                           dashboard=False)  # fmt: skip
    app = create_app(settings, store=store, config=config, clock_ns=lambda: now_ns)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client, auth


@contextlib.asynccontextmanager
async def memory_services(
    tmp_path: Path,
    config: PlatformConfig,
    store: MemoryStore,
    role: tuple[Role, list[str]],
    now_ns: int = NOW_NS,
) -> AsyncIterator[tuple[Access, AppState]]:
    """The started API on `store` at a fixed clock, for calling its services directly:
    yields a caller with a key of `role` and the app's state."""
    from peakline_api.access import Access
    from peakline_api.app import create_app
    from peakline_api.keys import KeyStore
    from peakline_api.settings import ApiSettings

    keys_db = tmp_path / "keys.db"
    with KeyStore(keys_db) as keys:
        token = keys.create("caller", *role)[1]
    settings = ApiSettings(config_dir=config.root, store_url="memory:", keys_db=keys_db)
    app = create_app(settings, store=store, config=config, clock_ns=lambda: now_ns)
    async with app.router.lifespan_context(app):
        state: AppState = app.state.peakline
        key = state.keys.verify(token)
        assert key is not None
        yield Access(key, state.registry), state
