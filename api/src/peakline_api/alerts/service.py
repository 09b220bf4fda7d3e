"""Wires alerts into the API's lifespan: the alert store, the evaluator and the sender, run
by one background task every `settings.alerts.interval_s`.

`settings.alerts` (`AlertSettings`): `enabled` runs the evaluator and sender in this process
(in any number of replicas sharing the alert database: the alerts lease lets one evaluate at
a time; the routes work in every process); `interval_s` (default 60); `retry_first_s`
(default 30); `webhook_timeout_s` (default 5); `smtp` (`SmtpSettings`: host, port 587,
sender, starttls, username, password_file, ca_file), none without a relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi import FastAPI

from peakline_api.alerts.evaluator import AlertEvaluator
from peakline_api.alerts.sender import Backoff, Sender
from peakline_api.alerts.store import AlertStore
from peakline_api.control import replica_name
from peakline_api.ledger import LedgerError
from peakline_api.services.inventory import refrigerants_db, with_posted_service
from peakline_api.state import AppState
from peakline_api.statedb import StateDb, StateError
from peakline_core.storage import StoreError

log = logging.getLogger(__name__)


def alerts_db(state: AppState) -> Path | StateDb:
    """The shared state database, else `alerts.db` next to the key database."""
    if state.state_db is not None:
        return state.state_db
    return state.settings.keys_db.with_name("alerts.db")


LEASE = "alerts"


@dataclass
class Alerts:
    """What the alert routes use (`AppState.alerts`)."""

    db: AlertStore
    evaluator: AlertEvaluator
    sender: Sender
    running: bool
    passes: int = 0
    """Completed evaluate-and-send passes of the background task (tests wait on it)."""
    holds_lease: Callable[[], bool] = field(default=lambda: True)
    """Leader election across API replicas: a pass evaluates and sends only while this says
    the process holds the alerts lease (`AlertStore.hold` on the shared alerts database,
    renewed every pass, taken over by another replica once it has run out)."""

    deliver: bool = True
    """Whether a pass sends the due notifications (`AlertSettings.deliver`)."""

    async def tick(self, now_ns: int) -> None:
        if not self.holds_lease():
            return
        await self.evaluator.evaluate(now_ns)
        if self.deliver:
            await self.sender.send_due(now_ns)


async def _run(alerts: Alerts, state: AppState, interval_s: float) -> None:
    while True:
        try:
            await alerts.tick(state.clock_ns())
        except (StoreError, LedgerError, StateError, sqlite3.Error) as exc:  # retried next pass
            state.metrics.alert_evaluations_failed.inc()
            log.warning("alert evaluation failed: %s", exc)
        except Exception:  # a bug in one pass must not end the evaluator for good
            state.metrics.alert_evaluations_failed.inc()
            log.exception("alert evaluation failed unexpectedly")
        alerts.passes += 1
        await asyncio.sleep(interval_s)


async def start_alerts(app: FastAPI, state: AppState, stack: contextlib.AsyncExitStack) -> None:
    settings = state.settings.alerts
    db = stack.enter_context(AlertStore(alerts_db(state)))
    config = state.registry.config.alerts
    client = await stack.enter_async_context(httpx.AsyncClient(timeout=settings.webhook_timeout_s))
    sender = Sender(
        config,
        db,
        smtp=settings.smtp,
        client=client,
        backoff=Backoff(first_s=settings.retry_first_s),
        on_result=lambda kind, outcome: state.metrics.alert_notifications.labels(
            kind, outcome
        ).inc(),
    )
    ledger = state.control.ledger  # started just before (control_wiring)
    evaluator = AlertEvaluator(
        config,
        state.registry,
        state.store,
        db,
        ledger,
        spool=lambda: state.hub.spools,
        refrigerants=lambda: (
            with_posted_service(
                state.registry.config.inventory, refrigerants_db(state)
            ).refrigerant_assets
        ),
    )
    running = settings.enabled and bool(config.rules)
    interval_s = settings.interval_s
    # One evaluator across the replicas sharing this alerts database: the lease runs three
    # passes, so a replica that stops renewing it (killed, hung) is replaced within that.
    holder = replica_name(app)
    ttl_ns = int(3 * interval_s * 1e9)
    state.alerts = Alerts(
        db,
        evaluator,
        sender,
        running,
        holds_lease=lambda: db.hold(LEASE, holder, state.clock_ns(), ttl_ns),
        deliver=settings.deliver,
    )
    if running:
        task = asyncio.create_task(_run(state.alerts, state, interval_s))

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            db.release(LEASE, holder, state.clock_ns())  # the next replica need not wait

        stack.push_async_callback(stop)
