"""Webhook requests for each channel kind: the URL, headers and body bytes to POST.

- ``webhook``: generic JSON; header ``X-Peakline-Signature: t=<unix s>,v1=<hex>`` where v1 is
  HMAC-SHA256(secret, "<t>.<body>"), so a receiver can check both integrity and age.
- ``wecom`` (企业微信 group robot): markdown message; the robot key in the URL is the secret.
- ``dingtalk`` (钉钉 group robot): text message; with a secret, ``timestamp`` (ms) and
  ``sign`` = urlencode(base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>"))) in the query.
- ``feishu`` (飞书 group robot): text message; with a secret, ``timestamp`` (s) and ``sign``
  = base64(HMAC-SHA256(key="<timestamp>\\n<secret>", message="")) in the body.

Pure: the caller passes the clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from peakline_core.alerts.lifecycle import Transition
from peakline_core.alerts.messages import Message

SIGNATURE_HEADER = "X-Peakline-Signature"


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def sign_generic(secret: str, timestamp_s: int, body: bytes) -> str:
    """The generic webhook's signature header value."""
    mac = hmac.new(secret.encode(), f"{timestamp_s}.".encode() + body, hashlib.sha256)
    return f"t={timestamp_s},v1={mac.hexdigest()}"


def verify_generic(secret: str, header: str, body: bytes) -> bool:
    """Receiver side of :func:`sign_generic` (used by tests and documented for users)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if "t" not in parts or not parts["t"].isdigit():
        return False
    return hmac.compare_digest(sign_generic(secret, int(parts["t"]), body), header)


def sign_dingtalk(secret: str, timestamp_ms: int) -> str:
    """DingTalk robot signature (already URL-encoded for the query string)."""
    text = f"{timestamp_ms}\n{secret}".encode()
    mac = hmac.new(secret.encode(), text, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(mac).decode())


def sign_feishu(secret: str, timestamp_s: int) -> str:
    """Feishu robot signature: the key is "<timestamp>\\n<secret>", the message empty."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def generic_payload(transition: Transition, message: Message, language: str) -> dict[str, Any]:
    inc = transition.incident
    return {
        "version": 1,
        "key": transition.key,
        "transition": transition.kind,
        "at_ns": transition.at_ns,
        "incident": {
            "id": inc.id,
            "rule": inc.rule,
            "subject": inc.subject,
            "city": inc.city,
            "site": inc.site,
            "severity": inc.severity,
            "state": inc.state,
            "opened_ns": inc.opened_ns,
            "summary": inc.summary,
        },
        "language": language,
        "title": message.title,
        "text": message.text,
    }


_ITEM = ("key", "transition", "at_ns", "incident")


def build_digest_request(
    kind: str,
    url: str,
    secret: str | None,
    transitions: Sequence[Transition],
    message: Message,
    language: str,
    now_ms: int,
) -> WebhookRequest:
    """One request for a digest period. The chat robots get the digest text; the generic
    webhook gets every transition as `items` (each as a single notification's body, with
    its key) and an Idempotency-Key naming the whole batch."""
    if kind != "webhook":
        return build_request(kind, url, secret, transitions[0], message, language, now_ms)
    keys = sorted(t.key for t in transitions)
    batch = hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]
    body = _json(
        {
            "version": 1,
            "digest": True,
            "key": f"digest:{batch}",
            "items": [
                {k: v for k, v in generic_payload(t, message, language).items() if k in _ITEM}
                for t in transitions
            ],
            "language": language,
            "title": message.title,
            "text": message.text,
        }
    )
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Idempotency-Key": f"digest:{batch}",
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign_generic(secret, now_ms // 1000, body)
    return WebhookRequest(url, headers, body)


def build_request(
    kind: str,
    url: str,
    secret: str | None,
    transition: Transition,
    message: Message,
    language: str,
    now_ms: int,
) -> WebhookRequest:
    """The request for channel `kind` (webhook, wecom, dingtalk, feishu)."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if kind == "webhook":
        body = _json(generic_payload(transition, message, language))
        if secret:
            headers[SIGNATURE_HEADER] = sign_generic(secret, now_ms // 1000, body)
        headers["Idempotency-Key"] = transition.key
        return WebhookRequest(url, headers, body)
    if kind == "wecom":
        markdown = "\n".join((f"**{message.title}**", *(f"> {line}" for line in message.lines)))
        return WebhookRequest(
            url, headers, _json({"msgtype": "markdown", "markdown": {"content": markdown}})
        )
    if kind == "dingtalk":
        if secret:
            sep = "&" if "?" in url else "?"
            url = f"{url}{sep}timestamp={now_ms}&sign={sign_dingtalk(secret, now_ms)}"
        body = _json({"msgtype": "text", "text": {"content": message.text}})
        return WebhookRequest(url, headers, body)
    if kind == "feishu":
        payload: dict[str, Any] = {"msg_type": "text", "content": {"text": message.text}}
        if secret:
            ts = now_ms // 1000
            payload |= {"timestamp": str(ts), "sign": sign_feishu(secret, ts)}
        return WebhookRequest(url, headers, _json(payload))
    raise ValueError(f"not a webhook channel kind: {kind!r}")
