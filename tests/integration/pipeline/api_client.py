"""The API over a test's own store: one key of the given role, the app's lifespan and an
httpx client on it, entered on the test's exit stack (closed when the test ends)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

import httpx

from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_api.settings import ApiSettings
from peakline_core.config import PlatformConfig
from peakline_core.storage import Store


async def api_client(
    stack: AsyncExitStack,
    tmp_path: Path,
    root: Path,
    store: Store,
    platform: PlatformConfig,
    clock_ns: Callable[[], int],
    key: tuple[str, Role, list[str]],
) -> httpx.AsyncClient:
    """A client of the API reading `store`, authenticated as `key` (name, role, cities)."""
    keys_db = tmp_path / "keys.db"
    with KeyStore(keys_db) as keys:
        token = keys.create(*key)[1]
    app = create_app(
        ApiSettings(config_dir=root, store_url="influxdb://unused", keys_db=keys_db,
                    dashboard=False),
        store=store, config=platform, clock_ns=clock_ns,
    )  # fmt: skip
    await stack.enter_async_context(app.router.lifespan_context(app))
    return await stack.enter_async_context(
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api",
            headers={"Authorization": f"Bearer {token}"},
        )
    )
