"""The application factory: `create_app(settings)` builds a FastAPI app whose lifespan owns the
config registry, the store, the key database and the broker follower."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.resources import files

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from peakline_api.alerts.service import start_alerts
from peakline_api.control_wiring import start_control
from peakline_api.errors import install_problem_handlers
from peakline_api.i18n import ProblemTitles
from peakline_api.keys import KeyStore
from peakline_api.latest import LatestTable, seed_from_store
from peakline_api.live import DeviceOwner, LiveHub, follow_broker
from peakline_api.observability import ApiMetrics, ObservabilityMiddleware
from peakline_api.registry import Registry
from peakline_api.routers import alerts as _alerts
from peakline_api.routers import anomalies, catalog, ops, readings, reports, stream
from peakline_api.routers import anomaly_feedback as _anomaly_feedback  # operators' verdicts
from peakline_api.routers import city_status as _city_status  # overview cards
from peakline_api.routers import commands as _commands
from peakline_api.routers import demand_response as _demand_response
from peakline_api.routers import exports as _exports  # city archives
from peakline_api.routers import imports as _imports  # historical data import
from peakline_api.routers import inventory as _inventory  # GHG inventory
from peakline_api.routers import programme as _programme  # benchmarking
from peakline_api.routers import retrofits as _retrofits  # retrofit M&V
from peakline_api.routers import site_daily as _site_daily  # site page's daily bars
from peakline_api.settings import ApiSettings
from peakline_api.state import AppState
from peakline_api.statedb import open_postgres
from peakline_core.config import PlatformConfig, load_config
from peakline_core.storage import Store, StoreRejected, StoreUnavailable
from peakline_core.wire.topics import Topics
from peakline_store.open import open_store

DESCRIPTION = """
The peakline control API: the programme's cities, districts, sites and devices with live status,
readings and time series, anomaly events, energy and emissions reports, and live streams.

**Authentication**: every `/api/v1` endpoint needs an API key (`Authorization: Bearer plk_...`
or `X-API-Key`). Keys have a role (viewer < operator < admin; writes need operator) and a scope
(cities, or `*`), created with `peakline-api keys create`.

**Errors** are RFC 9457 problem details (`application/problem+json`).

**Filters** are the same on every list: `site`, `district`, `city`, `device`, `point`
(repeatable), `start`/`end` (ISO 8601 or relative: `-1h`, `now-7d`), `limit`/`offset`.
"""


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def create_app(
    settings: ApiSettings,
    *,
    store: Store | None = None,
    config: PlatformConfig | None = None,
    clock_ns: Callable[[], int] | None = None,
) -> FastAPI:
    """Build the API. `store`/`config`/`clock_ns` replace what settings name (tests only)."""
    metrics = ApiMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = Registry.from_config(config or load_config(settings.config_dir))
        hub = LiveHub(
            Topics(settings.topic_prefix),
            queue_size=settings.stream_queue,
            on_drop=metrics.stream_dropped.inc,
            owners={d.id: DeviceOwner(d.site, d.agent) for d in registry.devices.values()},
            on_reject=lambda reason: metrics.live_rejected.labels(reason).inc(),
            table=LatestTable() if settings.broker_url else None,
        )
        async with contextlib.AsyncExitStack() as stack:
            the_store = store if store is not None else open_store(settings.store_url)
            if store is None:
                stack.push_async_callback(the_store.aclose)
            state_db = (
                stack.enter_context(open_postgres(settings.state_url, settings.state_password_file))
                if settings.state_url
                else None
            )
            keys = stack.enter_context(KeyStore(state_db or settings.keys_db))
            state = AppState(settings, registry, the_store, keys, hub, metrics, state_db)
            if clock_ns is not None:
                state.clock_ns = clock_ns
            app.state.peakline = state
            stack.callback(_imports.discard_pending, state)  # uploads spooled to disk
            await start_control(app, state, stack)
            await start_alerts(app, state, stack)
            if settings.broker_url:
                client_id = f"peakline-api-{os.getpid()}-{id(app):x}"
                reseed = _seeder(hub, the_store, registry)
                task = asyncio.create_task(follow_broker(hub, settings, client_id, reseed))
                stack.push_async_callback(_stop, task)
            yield

    app = FastAPI(
        title="peakline API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None if settings.private_ops else "/docs",
        openapi_url=None if settings.private_ops else "/openapi.json",
        redoc_url=None,
    )
    install_problem_handlers(app, ProblemTitles.load())
    for module in (catalog, readings, anomalies, reports, stream, ops):
        app.include_router(module.router)
    app.include_router(_anomaly_feedback.router)
    app.include_router(_commands.router)
    app.include_router(_demand_response.router)
    app.include_router(_retrofits.router)
    app.include_router(_imports.router)
    app.include_router(_exports.router)
    app.include_router(_programme.router)
    app.include_router(_inventory.router)
    app.include_router(_alerts.router)
    app.include_router(_city_status.router)
    app.include_router(_site_daily.router)
    if settings.dashboard:
        static = files("peakline_api") / "static"
        app.mount("/dashboard", StaticFiles(directory=str(static), html=True), name="dashboard")

        @app.get("/", include_in_schema=False)
        async def root() -> RedirectResponse:
            return RedirectResponse("/dashboard/")

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(
        ObservabilityMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes
    )
    return app


def _seeder(hub: LiveHub, store: Store, registry: Registry) -> Callable[[], Awaitable[None]]:
    """The latest-value table's seed from the store, run on every broker (re)connect; a store
    that cannot answer leaves the table unseeded (the store then answers requests)."""
    cities: dict[str, list[str]] = defaultdict(list)
    for site in registry.sites.values():
        cities[site.city].append(site.id)
    regions = sorted({s.grid_region for s in registry.sites.values()})
    log = structlog.get_logger("peakline.api.latest")

    async def seed() -> None:
        if hub.table is None:
            return
        try:
            await seed_from_store(hub.table, store, cities, regions)
        except (StoreUnavailable, StoreRejected) as exc:
            log.warning("latest values not seeded from the store", error=str(exc))

    return seed
