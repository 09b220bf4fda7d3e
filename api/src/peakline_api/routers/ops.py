"""Liveness, readiness and Prometheus metrics: unauthenticated unless `private_ops` (then a key
is needed for all but `/health`); keep them on a private network either way. No answer here
carries a dependency's error text (host names): that goes to the log."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, Response
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from peakline_api.state import State, ops_access
from peakline_core.storage import StoreError

router = APIRouter(tags=["operations"])


Ops = Depends(ops_access)


@router.get("/health", summary="Liveness: the process serves requests")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/ready",
    summary="Readiness: store and broker reachable",
    responses={503: {"description": "a dependency is down; body says which"}},
    dependencies=[Ops],
)
async def ready(state: State) -> Any:
    checks: dict[str, str] = {}
    try:
        await state.store.ping()
        checks["store"] = "ok"
    except StoreError as exc:
        structlog.get_logger("peakline.api.ops").warning("store unavailable", error=str(exc))
        checks["store"] = "unavailable"
    if state.settings.broker_url is None:
        checks["broker"] = "not configured"
    else:
        checks["broker"] = "ok" if state.hub.connected else "disconnected"
    ok = checks["store"] == "ok" and checks["broker"] in ("ok", "not configured")
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response, dependencies=[Ops])
async def metrics(state: State) -> Response:
    state.metrics.broker_connected.set(1 if state.hub.connected else 0)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
