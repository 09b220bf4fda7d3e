"""Wires alerts into the API's lifespan: the alert store, the evaluator and the sender, run
by one background task every `alerts_interval_s` (settings.extra).

Settings (`settings.extra`): `alerts` = "on" runs the evaluator and sender in this process
(in any number of replicas sharing the alert database: the alerts lease lets one evaluate at
a time; the routes work in every process); `alerts_db`; `alerts_interval_s` (default 60);
`alerts_retry_first_s` (default 30); `alerts_webhook_timeout_s` (default 5);
`smtp_host`, `smtp_port` (587), `smtp_from`, `smtp_starttls` ("1"/"0"), `smtp_username`,
`smtp_password_file`, `smtp_ca_file`.
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
from peakline_api.alerts.sender import Backoff, Sender, SmtpSettings
from peakline_api.alerts.store import AlertStore
from peakline_api.control import replica_name
from peakline_api.ledger import LedgerError
from peakline_api.routers.inventory import refrigerants_db, with_posted_service
from peakline_api.state import AppState
from peakline_api.statedb import StateDb, StateError
from peakline_core.storage import StoreError

log = logging.getLogger(__name__)


def alerts_db(state: AppState) -> Path | StateDb:
    """The shared state database, else `settings.extra["alerts_db"]`, else `alerts.db` next
    to the key database."""
    if state.state_db is not None:
        return state.state_db
    extra = state.settings.extra.get("alerts_db")
    return Path(extra) if extra else state.settings.keys_db.with_name("alerts.db")


def smtp_settings(extra: dict[str, str]) -> SmtpSettings | None:
    if not extra.get("smtp_host"):
        return None
    return SmtpSettings(
        host=extra["smtp_host"],
        port=int(extra.get("smtp_port", "587")),
        sender=extra.get("smtp_from", "peakline@localhost"),
        starttls=extra.get("smtp_starttls", "1") != "0",
        username=extra.get("smtp_username"),
        password_file=Path(extra["smtp_password_file"])
        if extra.get("smtp_password_file")
        else None,
        ca_file=Path(extra["smtp_ca_file"]) if extra.get("smtp_ca_file") else None,
    )


LEASE = "alerts"


@dataclass
class Alerts:
    """What the alert routes use (`app.state.alerts`)."""

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

    async def tick(self, now_ns: int) -> None:
        if not self.holds_lease():
            return
        await self.evaluator.evaluate(now_ns)
        await self.sender.send_due(now_ns)


async def _run(alerts: Alerts, state: AppState, interval_s: float) -> None:
    while True:
        try:
            await alerts.tick(state.clock_ns())
        except (StoreError, LedgerError, StateError, sqlite3.Error) as exc:  # retried next pass
            state.metrics.alert_evaluations_failed.inc()
            log.warning("alert evaluation failed: %s", exc)
        alerts.passes += 1
        await asyncio.sleep(interval_s)


async def start_alerts(app: FastAPI, state: AppState, stack: contextlib.AsyncExitStack) -> None:
    extra = state.settings.extra
    db = stack.enter_context(AlertStore(alerts_db(state)))
    config = state.registry.config.alerts
    client = await stack.enter_async_context(
        httpx.AsyncClient(timeout=float(extra.get("alerts_webhook_timeout_s", "5")))
    )
    sender = Sender(
        config,
        db,
        smtp=smtp_settings(extra),
        client=client,
        backoff=Backoff(first_s=float(extra.get("alerts_retry_first_s", "30"))),
        on_result=lambda kind, outcome: state.metrics.alert_notifications.labels(
            kind, outcome
        ).inc(),
    )
    control = getattr(app.state, "control", None)  # started just before (control_wiring)
    ledger = getattr(control, "ledger", None)
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
    running = extra.get("alerts") == "on" and bool(config.rules)
    interval_s = float(extra.get("alerts_interval_s", "60"))
    # One evaluator across the replicas sharing this alerts database: the lease runs three
    # passes, so a replica that stops renewing it (killed, hung) is replaced within that.
    holder = replica_name(app)
    ttl_ns = int(3 * interval_s * 1e9)
    app.state.alerts = Alerts(
        db,
        evaluator,
        sender,
        running,
        holds_lease=lambda: db.hold(LEASE, holder, state.clock_ns(), ttl_ns),
    )
    if running:
        task = asyncio.create_task(_run(app.state.alerts, state, interval_s))

        async def stop() -> None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            db.release(LEASE, holder, state.clock_ns())  # the next replica need not wait

        stack.push_async_callback(stop)
