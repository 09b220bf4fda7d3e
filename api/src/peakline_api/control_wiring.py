"""Starts the control side of the API inside the app's lifespan (one call from app.py)."""

from __future__ import annotations

import asyncio
import contextlib
import re

from fastapi import FastAPI

from peakline_api.control import CommandService, stop_task
from peakline_api.dr import DemandResponse, run_events
from peakline_api.ledger import CommandLedger
from peakline_api.state import AppState
from peakline_core.wire import Topics


def ledger_url(state: AppState) -> str:
    """`settings.extra["ledger_url"]`, else `ledger.db` next to the key database."""
    return state.settings.extra.get("ledger_url") or str(
        state.settings.keys_db.with_name("ledger.db")
    )


async def start_control(app: FastAPI, state: AppState, stack: contextlib.AsyncExitStack) -> None:
    """Open the ledger, start the command service (broker, sweeper) and the DR scheduler;
    `app.state.control` and `app.state.dr` are what the routers use."""
    settings = state.settings
    ledger = stack.enter_context(CommandLedger(ledger_url(state)))
    commands = CommandService(
        ledger, state.registry, Topics(settings.topic_prefix), clock_ns=state.clock_ns
    )
    # `dr_slot_s`: verification slots as coarse as the meter data (a demo's stepped history
    # holds one reading per 5-15 minutes; 60-s slots would hardly ever pair them up)
    slot_s = float(settings.extra.get("dr_slot_s", "60"))
    dr = DemandResponse(
        ledger, state.registry, state.store, commands, state.clock_ns, slot_s=slot_s
    )
    app.state.control, app.state.dr = commands, dr
    # Stable per deployment and prefix, so the persistent session keeps acks across restarts.
    client_id = (
        settings.extra.get("control_client_id")
        or ("peakline-api-control-" + re.sub(r"[^A-Za-z0-9_-]", "-", settings.topic_prefix))[:64]
    )
    for task in (
        asyncio.create_task(commands.run(settings, client_id)),
        asyncio.create_task(run_events(dr)),
    ):
        stack.push_async_callback(stop_task, task)
