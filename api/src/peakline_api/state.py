"""What the lifespan opens and the routers use, and the request dependencies built on it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, Request
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

if TYPE_CHECKING:  # these modules build on AppState; the lifespan sets the fields
    from peakline_api.alerts.service import Alerts
    from peakline_api.control import CommandService, LeaseHolder
    from peakline_api.dr import DemandResponse
    from peakline_api.services.retrofits import RetrofitSavings


@dataclass
class AppState:
    """Everything the lifespan opens, set once as `app.state.peakline`; routers and services
    reach it through the `State` dependency (`app_state`), never through other attributes."""

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
    savings: dict[tuple[str, date, int, int, int | None, str], RetrofitSavings] = field(
        init=False, default_factory=dict
    )
    """Measured-savings reports by (retrofit, clock hour, options): a benchmark request for
    every city reuses them (services/retrofits.py)."""
    imports: dict[str, Any] = field(init=False, default_factory=dict)
    """Uploaded imports awaiting commit, by id, oldest first (routers/imports.py)."""
    control: CommandService = field(init=False)
    """Commands: the ledger, the broker connection and the sweeper (control_wiring.py)."""
    dr: DemandResponse = field(init=False)
    """Demand-response events and their scheduler (control_wiring.py)."""
    leases: dict[str, LeaseHolder] = field(init=False)
    """The singleton jobs' leases by name (the sweeper's, the DR scheduler's)."""
    alerts: Alerts = field(init=False)
    """The alert store, evaluator and sender (alerts/service.py)."""

    def __post_init__(self) -> None:
        cache = LatestCache(self.store, self.settings.latest_cache_s)
        self.latest = Latest(self.hub.table, lambda: self.hub.connected, cache)


def state_of(app: FastAPI) -> AppState:
    """The app's state, once its lifespan has started."""
    state: AppState = app.state.peakline
    return state


def app_state(request: Request) -> AppState:
    """The one dependency every router and parameter parser reaches the app's state through."""
    return state_of(request.app)


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
