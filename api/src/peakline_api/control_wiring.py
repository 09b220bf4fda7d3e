"""Starts the control side of the API inside the app's lifespan (one call from app.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket

from fastapi import FastAPI

from peakline_api.control import (
    DR_LEASE,
    SWEEPER_LEASE,
    CommandService,
    LeaseHolder,
    replica_name,
    stop_task,
)
from peakline_api.dr import DemandResponse, run_events
from peakline_api.ledger import CommandLedger
from peakline_api.settings import ApiSettings
from peakline_api.state import AppState
from peakline_api.statedb import Leases
from peakline_core.wire import Topics


def ledger_url(state: AppState) -> str:
    """`ledger.db` next to the key database (SQLite state only)."""
    return str(state.settings.keys_db.with_name("ledger.db"))


def shared(settings: ApiSettings) -> bool:
    """Whether other API processes share this state (PostgreSQL, or uvicorn workers)."""
    return settings.state_url is not None or settings.workers > 1


def control_client_id(settings: ApiSettings) -> str:
    """The control connection's MQTT client id.

    One API process on SQLite state: stable per deployment and prefix, so its persistent
    session keeps acks published while it restarts. Shared state (replicas, workers): every
    process follows the acks with its own id (one id for two processes would have the broker
    disconnect one for the other, endlessly); host and pid make it unique, and an ack missed
    by a restarting replica is still applied by the others.
    """
    base = "peakline-api-control-" + re.sub(r"[^A-Za-z0-9_-]", "-", settings.topic_prefix)
    if not shared(settings):
        return base[:64]
    suffix = re.sub(r"[^A-Za-z0-9_-]", "-", f"-{socket.gethostname()}-{os.getpid()}")
    return base[: 64 - len(suffix)] + suffix


async def start_control(app: FastAPI, state: AppState, stack: contextlib.AsyncExitStack) -> None:
    """Open the ledger, start the command service (broker, sweeper) and the DR scheduler;
    `state.control` and `state.dr` are what the routers use."""
    settings = state.settings
    ledger = stack.enter_context(CommandLedger(state.state_db or ledger_url(state)))
    # One sweeper and one DR scheduler across every process sharing this ledger (replicas on
    # PostgreSQL, or uvicorn workers on one SQLite file): leases in the ledger's database.
    holder, ttl_ns = replica_name(app), int(settings.lease_s * 1e9)
    leases = Leases(ledger.db)
    sweeper = LeaseHolder(leases, SWEEPER_LEASE, holder, ttl_ns)
    scheduler = LeaseHolder(leases, DR_LEASE, holder, ttl_ns)
    commands = CommandService(
        ledger, state.registry, Topics(settings.topic_prefix), clock_ns=state.clock_ns,
        lease=sweeper,
    )  # fmt: skip
    dr = DemandResponse(
        ledger, state.registry, state.store, commands, state.clock_ns, slot_s=settings.dr_slot_s
    )
    state.control, state.dr = commands, dr
    state.leases = {SWEEPER_LEASE: sweeper, DR_LEASE: scheduler}
    for task in (
        asyncio.create_task(
            commands.run(settings, control_client_id(settings), persistent=not shared(settings))
        ),
        asyncio.create_task(run_events(dr, lease=scheduler)),
    ):
        stack.push_async_callback(stop_task, task)
