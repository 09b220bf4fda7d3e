"""Sends the outbox: webhooks with httpx, email with stdlib smtplib (STARTTLS) in a thread.

A row is marked sent only after the receiver accepted it (2xx, or the SMTP server took the
message); a failure is retried with exponential backoff and given up (dead, visible through
the API and metrics) after `max_attempts`. Every request has a timeout, and the sender runs
in its own background task, so an unreachable receiver never blocks a request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx

from peakline_api.alerts.store import AlertStore, OutboxItem, incident_from_snapshot
from peakline_core.alerts import Transition, build_request, render
from peakline_core.config.alerts import AlertsFile, EmailChannel, WebhookChannel

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """A receiver refused or could not be reached."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int = 587
    sender: str = "peakline@localhost"
    starttls: bool = True
    username: str | None = None
    password_file: Path | None = None
    timeout_s: float = 10.0
    ca_file: Path | None = None


@dataclass(frozen=True, slots=True)
class Backoff:
    first_s: float = 30.0
    factor: float = 2.0
    max_s: float = 3600.0
    max_attempts: int = 8

    def retry_ns(self, attempts_done: int, now_ns: int) -> int | None:
        """When to try again after `attempts_done` failures, or None to give up."""
        if attempts_done >= self.max_attempts:
            return None
        delay = min(self.max_s, self.first_s * self.factor ** (attempts_done - 1))
        return now_ns + int(delay * 1e9)


def send_email(smtp: SmtpSettings, to: list[str], subject: str, body: str) -> None:
    """Blocking: run it in a thread."""
    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content(body)
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s) as client:
        if smtp.starttls:
            context = ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None)
            client.starttls(context=context)
        if smtp.username and smtp.password_file:
            client.login(smtp.username, smtp.password_file.read_text().strip())
        client.send_message(msg)


class Sender:
    def __init__(
        self,
        alerts: AlertsFile,
        db: AlertStore,
        *,
        smtp: SmtpSettings | None,
        client: httpx.AsyncClient,
        backoff: Backoff,
        on_result: Callable[[str, str], None] = lambda kind, outcome: None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.alerts = alerts
        self.channels = {c.id: c for c in alerts.channels}
        self.db = db
        self.smtp = smtp
        self.client = client
        self.backoff = backoff
        self.on_result = on_result
        self.env = os.environ if env is None else env

    async def send_due(self, now_ns: int) -> int:
        """Try every due row once (concurrently); returns how many were sent."""
        items = self.db.due(now_ns)
        results = await asyncio.gather(*(self._one(item, now_ns) for item in items))
        return sum(results)

    async def _one(self, item: OutboxItem, now_ns: int) -> bool:
        channel = self.channels.get(item.channel)
        if channel is None:
            self.db.mark_failed(item.key, item.channel, "channel no longer configured", None)
            return False
        try:
            await self._deliver(item, channel, now_ns)
        except (DeliveryError, httpx.HTTPError, OSError, smtplib.SMTPException) as exc:
            retry = self.backoff.retry_ns(item.attempts + 1, now_ns)
            self.db.mark_failed(item.key, item.channel, f"{type(exc).__name__}: {exc}", retry)
            self.on_result(channel.kind, "failed" if retry is not None else "dead")
            log.warning("alert %s to %s failed: %s", item.key, item.channel, exc)
            return False
        self.db.mark_sent(item.key, item.channel, now_ns)
        self.on_result(channel.kind, "sent")
        return True

    async def _deliver(
        self, item: OutboxItem, channel: WebhookChannel | EmailChannel, now_ns: int
    ) -> None:
        incident = incident_from_snapshot(item.snapshot)
        rule = next(
            (r for r in [*self.alerts.rules, *self.db.rules()] if r.id == incident.rule), None
        )
        name = rule.name if rule is not None else incident.rule
        transition = Transition(incident, item.transition, item.created_ns)  # type: ignore[arg-type]
        message = render(transition, name, channel.language)
        if isinstance(channel, EmailChannel):
            if self.smtp is None:
                raise DeliveryError("no SMTP server configured (settings.extra smtp_host)")
            await asyncio.to_thread(
                send_email, self.smtp, list(channel.recipients), message.title, message.text
            )
            return
        secret = self.env.get(channel.secret_env) if channel.secret_env else None
        if channel.secret_env and not secret:
            raise DeliveryError(f"environment variable {channel.secret_env} is not set")
        req = build_request(
            channel.kind,
            channel.url,
            secret,
            transition,
            message,
            channel.language,
            now_ns // 10**6,
        )
        resp = await self.client.post(req.url, content=req.body, headers=req.headers)
        if resp.status_code // 100 != 2:
            raise DeliveryError(f"HTTP {resp.status_code}")
        if channel.kind in ("dingtalk", "wecom", "feishu"):
            # The chat robots answer 200 with an error code in the body.
            try:
                body = resp.json()
            except ValueError:
                return
            code = body.get("errcode", body.get("code", 0)) if isinstance(body, dict) else 0
            if code not in (0, None):
                raise DeliveryError(f"robot error {code}: {body.get('errmsg') or body.get('msg')}")
