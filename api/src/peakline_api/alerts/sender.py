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
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

import httpx

from peakline_api.alerts.store import AlertStore, OutboxItem, incident_from_snapshot
from peakline_api.errors import Internal
from peakline_api.settings import SmtpSettings
from peakline_core.alerts import Transition, build_request, render, render_digest
from peakline_core.alerts.webhooks import build_digest_request
from peakline_core.config.alerts import SEVERITY_RANK, AlertsFile, EmailChannel, WebhookChannel

log = logging.getLogger(__name__)

ROBOT_LIMITS: dict[str, tuple[tuple[int, float], ...]] = {
    "wecom": ((20, 60.0),),  # 企业微信群机器人: 20 messages a minute per robot
    "dingtalk": ((20, 60.0),),  # 钉钉自定义机器人: 20 a minute, else throttled for 10 min
    "feishu": ((100, 60.0), (5, 1.0)),  # 飞书自定义机器人: 100 a minute and 5 a second
}
"""(messages, window s) per channel kind; see docs/alerts.md for the sources."""


class DeliveryError(Internal):
    """A receiver refused or could not be reached."""


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
        """Try every due row once (channels concurrently), a digest channel's low-severity
        rows as one message, and no channel past its robot's rate limit (the rest wait in
        the outbox for a later pass: queued, not dropped). Returns how many rows were sent."""
        by_channel: dict[str, list[OutboxItem]] = defaultdict(list)
        for item in self.db.due(now_ns, limit=1000):
            by_channel[item.channel].append(item)
        jobs = []
        for channel_id, items in by_channel.items():
            channel = self.channels.get(channel_id)
            if channel is None:
                for item in items:
                    self.db.mark_failed(
                        item.key, item.channel, "channel no longer configured", None
                    )
                continue
            digested = [i for i in items if self._digested(channel, i)]
            batches = [(digested, True)] if digested else []
            batches += [([i], False) for i in items if i not in digested]
            allowed = self._allowance(channel, now_ns)
            if len(batches) > allowed:
                self.on_result(channel.kind, "throttled")
            jobs.append(self._send_in_order(channel, batches[:allowed], now_ns))
        return sum(await asyncio.gather(*jobs))

    def _digested(self, channel: WebhookChannel | EmailChannel, item: OutboxItem) -> bool:
        digest = channel.digest
        if digest is None:
            return False
        severity = incident_from_snapshot(item.snapshot).severity
        return SEVERITY_RANK[severity] <= SEVERITY_RANK[digest.max_severity]

    def _allowance(self, channel: WebhookChannel | EmailChannel, now_ns: int) -> int:
        """How many more requests the channel's robot takes now (its documented limits)."""
        allowed = 1_000_000
        for count, window_s in ROBOT_LIMITS.get(channel.kind, ()):
            used = self.db.requests_since(channel.id, now_ns - int(window_s * 1e9))
            allowed = min(allowed, max(0, count - used))
        return allowed

    async def _send_in_order(
        self,
        channel: WebhookChannel | EmailChannel,
        batches: list[tuple[list[OutboxItem], bool]],
        now_ns: int,
    ) -> int:
        """One channel's messages one after the other (a robot shows them in that order)."""
        sent = 0
        for items, digest in batches:
            sent += await self._send(channel, items, digest, now_ns)
        return sent

    async def _send(
        self,
        channel: WebhookChannel | EmailChannel,
        items: list[OutboxItem],
        digest: bool,
        now_ns: int,
    ) -> int:
        self.db.record_request(channel.id, now_ns)
        try:
            if digest:
                await self._deliver_digest(items, channel, now_ns)
            else:
                await self._deliver(items[0], channel, now_ns)
        except (DeliveryError, httpx.HTTPError, OSError, smtplib.SMTPException) as exc:
            for item in items:
                retry = self.backoff.retry_ns(item.attempts + 1, now_ns)
                self.db.mark_failed(item.key, item.channel, f"{type(exc).__name__}: {exc}", retry)
                self.on_result(channel.kind, "failed" if retry is not None else "dead")
            log.warning("alert %s to %s failed: %s", items[0].key, channel.id, exc)
            return 0
        for item in items:
            self.db.mark_sent(item.key, item.channel, now_ns)
            self.on_result(channel.kind, "sent")
        return len(items)

    def _rule_name(self, rule_id: str) -> str:
        rules = [*self.alerts.rules, *self.db.rules()]
        return next((r.name for r in rules if r.id == rule_id), rule_id)

    async def _deliver_digest(
        self, items: list[OutboxItem], channel: WebhookChannel | EmailChannel, now_ns: int
    ) -> None:
        transitions = [
            Transition(incident_from_snapshot(i.snapshot), i.transition, i.created_ns)  # type: ignore[arg-type]
            for i in items
        ]
        message = render_digest(
            [(t, self._rule_name(t.incident.rule)) for t in transitions], channel.language
        )
        if isinstance(channel, EmailChannel):
            await self._email(channel, message.title, message.text)
            return
        req = build_digest_request(
            channel.kind,
            channel.url,
            self._secret(channel),
            transitions,
            message,
            channel.language,
            now_ns // 10**6,
        )
        await self._post(channel, req.url, req.body, req.headers)

    async def _deliver(
        self, item: OutboxItem, channel: WebhookChannel | EmailChannel, now_ns: int
    ) -> None:
        incident = incident_from_snapshot(item.snapshot)
        transition = Transition(incident, item.transition, item.created_ns)  # type: ignore[arg-type]
        message = render(transition, self._rule_name(incident.rule), channel.language)
        if isinstance(channel, EmailChannel):
            await self._email(channel, message.title, message.text)
            return
        req = build_request(
            channel.kind,
            channel.url,
            self._secret(channel),
            transition,
            message,
            channel.language,
            now_ns // 10**6,
        )
        await self._post(channel, req.url, req.body, req.headers)

    async def _email(self, channel: EmailChannel, subject: str, text: str) -> None:
        if self.smtp is None:
            raise DeliveryError("no SMTP server configured (peakline-api run --smtp)")
        await asyncio.to_thread(send_email, self.smtp, list(channel.recipients), subject, text)

    def _secret(self, channel: WebhookChannel) -> str | None:
        secret = self.env.get(channel.secret_env) if channel.secret_env else None
        if channel.secret_env and not secret:
            raise DeliveryError(f"environment variable {channel.secret_env} is not set")
        return secret

    async def _post(
        self, channel: WebhookChannel, url: str, body: bytes, headers: dict[str, str]
    ) -> None:
        resp = await self.client.post(url, content=body, headers=headers)
        if resp.status_code // 100 != 2:
            raise DeliveryError(f"HTTP {resp.status_code}")
        if channel.kind in ("dingtalk", "wecom", "feishu"):
            # The chat robots answer 200 with an error code in the body.
            try:
                answer = resp.json()
            except ValueError:
                return
            code = answer.get("errcode", answer.get("code", 0)) if isinstance(answer, dict) else 0
            if code not in (0, None):
                msg = answer.get("errmsg") or answer.get("msg")
                raise DeliveryError(f"robot error {code}: {msg}")
