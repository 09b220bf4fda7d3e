"""What the lifespan opens and the routers use, and the request dependencies built on it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from peakline_api.access import Access
from peakline_api.cache import LatestCache
from peakline_api.errors import Unauthenticated
from peakline_api.keys import KeyStore, Role
from peakline_api.latest import Latest
from peakline_api.live import LiveHub
from peakline_api.observability import ApiMetrics
from peakline_api.registry import Registry
from peakline_api.settings import ApiSettings
from peakline_api.statedb import StateDb
from peakline_core.storage import Store


@dataclass
class AppState:
    """Owned by the lifespan; routers reach it through `request.app.state.peakline`."""

    settings: ApiSettings
    registry: Registry
    store: Store
    keys: KeyStore
    hub: LiveHub
    metrics: ApiMetrics
    state_db: StateDb | None = None
    """The shared PostgreSQL state (`settings.state_url`), or None: SQLite files."""
    clock_ns: Callable[[], int] = field(default=time.time_ns)
    """Wall clock in UTC ns; tests pass a fixed one."""
    latest: Latest = field(init=False)
    """The newest values: from the live feed's table while the API follows the broker, else
    `store.latest` behind a short cache with request coalescing (latest.py, cache.py)."""
    savings: dict[tuple[Any, ...], dict[str, Any]] = field(init=False, default_factory=dict)
    """Measured-savings reports by (retrofit, clock hour, options): a benchmark request for
    every city reuses them (routers/retrofits.py)."""
    imports: dict[str, Any] = field(init=False, default_factory=dict)
    """Uploaded imports awaiting commit, by id, oldest first (routers/imports.py)."""

    def __post_init__(self) -> None:
        cache = LatestCache(self.store, self.settings.latest_cache_s)
        self.latest = Latest(self.hub.table, lambda: self.hub.connected, cache)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.peakline
    return state


_bearer = HTTPBearer(auto_error=False, description="API key: `Authorization: Bearer plk_...`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key (alternative)")


def access(
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Access:
    """The caller's key, checked, bound to the registry: every data endpoint depends on this."""
    token = bearer.credentials if bearer is not None else header
    if not token:
        raise Unauthenticated("send an API key as `Authorization: Bearer <key>`")
    key = state.keys.verify(token)
    if key is None:
        raise Unauthenticated("unknown or revoked API key")
    request.scope.setdefault("state", {})["key_id"] = key.id
    return Access(key, state.registry)


def ops_access(
    request: Request,
    state: Annotated[AppState, Depends(app_state)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> None:
    """`/ready` and `/metrics`: open, or with `settings.private_ops` the same key check as
    every data endpoint (any role)."""
    if state.settings.private_ops:
        access(request, state, bearer, header)


def operator(caller: Annotated[Access, Depends(access)]) -> Access:
    """Like `access`, and the key must be operator or admin (every write needs this)."""
    caller.require(Role.OPERATOR)
    return caller


def admin(caller: Annotated[Access, Depends(access)]) -> Access:
    caller.require(Role.ADMIN)
    return caller


Caller = Annotated[Access, Depends(access)]
OperatorCaller = Annotated[Access, Depends(operator)]
State = Annotated[AppState, Depends(app_state)]
