"""Alerts end to end from the store (issue 22): readings in a real influxd trip a threshold
rule; a real HTTP receiver gets the signed webhook and aiosmtpd (STARTTLS) the email, each
exactly once per transition, across an evaluator restart; acknowledging stops reminders;
clearing resolves; an unreachable webhook fails fast, is retried and counted.

Time is controlled: the evaluator is given `now`, readings are written at chosen times.
"""

from __future__ import annotations

import calendar
import json
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from peakline_api.alerts.evaluator import AlertEvaluator
from peakline_api.alerts.sender import Backoff, Sender
from peakline_api.alerts.store import AlertStore
from peakline_api.registry import Registry
from peakline_api.settings import SmtpSettings
from peakline_core.alerts.lifecycle import NS_PER_MINUTE
from peakline_core.alerts.webhooks import SIGNATURE_HEADER, verify_generic
from peakline_core.config import load_config
from peakline_core.storage import Row, Store
from peakline_store.open import open_store
from tests.integration.api.alerts_support import (
    HttpReceiver,
    SmtpReceiver,
    http_receiver,
    smtp_receiver,
)

CASES = Path(__file__).resolve().parents[2] / "cases" / "config"
MIN = NS_PER_MINUTE
SECRET = "whsec-test"
# 2026-01-05 02:00 UTC = 10:00 in Beijing: outside the rule's quiet hours.
T0 = calendar.timegm((2026, 1, 5, 2, 0, 0)) * 1_000_000_000

ALERTS = """
channels:
  - {{id: hook, city: c1, kind: webhook, url: "{hook}/alerts", secret_env: TEST_HOOK_SECRET,
     language: en}}
  - {{id: down, city: c1, kind: webhook, url: "{dead}/x", language: en}}
  - {{id: mail, city: c1, kind: email, recipients: [ops@c1.example], language: zh-CN}}
rules:
  - id: power-high
    name: 电表功率过高
    scope: {{city: c1, device: m1}}
    condition: {{kind: threshold, point: power, op: ">", value: 100, for_minutes: 5,
                 clear_at: 90}}
    severity: warning
    channels: [{channels}]
    repeat_minutes: 30
    quiet_hours: {{start: "22:00", end: "07:00", utc_offset_hours: 8}}
"""


def _config(tmp: Path, hook: str, channels: str, dead: str = "http://127.0.0.1:9") -> Path:
    root = tmp / "cfg"
    shutil.copytree(CASES / "_base", root)
    (root / "alerts.yaml").write_text(ALERTS.format(hook=hook, dead=dead, channels=channels))
    return root


async def _power(store: Store, start_ns: int, values: list[float]) -> None:
    await store.write(
        [
            Row(
                "reading",
                {"site": "s1", "device": "m1", "point": "power"},
                {"value": v, "quality": 0},
                start_ns + i * MIN,
            )
            for i, v in enumerate(values)
        ]
    )


@dataclass
class Running:
    db: AlertStore
    evaluator: AlertEvaluator
    sender: Sender

    async def tick(self, now_ns: int) -> None:
        await self.evaluator.evaluate(now_ns)
        await self.sender.send_due(now_ns)


@asynccontextmanager
async def evaluator(
    root: Path, store: Store, db_path: Path, smtp: SmtpReceiver | None
) -> AsyncIterator[Running]:
    """One evaluator process's worth of objects; leaving it is a restart."""
    config = load_config(root)
    outcomes: list[tuple[str, str]] = []
    with AlertStore(db_path) as db:
        async with httpx.AsyncClient(timeout=2.0) as client:
            sender = Sender(
                config.alerts,
                db,
                smtp=None
                if smtp is None
                else SmtpSettings("127.0.0.1", smtp.port, "peakline@c1.example", ca_file=smtp.cert),
                client=client,
                backoff=Backoff(first_s=60, max_attempts=3),
                on_result=lambda kind, outcome: outcomes.append((kind, outcome)),
                env={"TEST_HOOK_SECRET": SECRET},
            )
            yield Running(
                db, AlertEvaluator(config.alerts, Registry.from_config(config), store, db), sender
            )


def _transitions(receiver: HttpReceiver) -> list[str]:
    out = []
    for post in receiver.posts:
        assert verify_generic(SECRET, post.headers[SIGNATURE_HEADER], post.body)
        out.append(json.loads(post.body)["transition"])
    return out


async def test_one_notification_per_transition_across_a_restart(
    influx_db: object, tmp_path: Path
) -> None:
    store = open_store(f"{influx_db.url}?db={influx_db.database}")  # type: ignore[attr-defined]
    db_path = tmp_path / "alerts.db"
    try:
        with http_receiver() as hook, smtp_receiver(tmp_path) as smtp:
            root = _config(tmp_path, hook.url, "hook, mail")
            await _power(store, T0, [50, 50, 120, 120, 120, 120, 120, 120, 120, 120])
            async with evaluator(root, store, db_path, smtp) as ev:
                await ev.tick(T0 + 9 * MIN)  # above since T0+2: 7 minutes > 5
                assert _transitions(hook) == ["opened"]
                assert len(smtp.messages) == 1
                await ev.tick(T0 + 9 * MIN + 10)  # same condition: nothing new
                # The incident is enqueued, then the process dies before sending:
                await _power(store, T0 + 10 * MIN, [121])
            async with evaluator(root, store, db_path, smtp) as ev:  # restart
                await ev.tick(T0 + 10 * MIN)
                assert _transitions(hook) == ["opened"]
                assert len(smtp.messages) == 1
                live = ev.db.search(["c1"], state="open")
                assert len(live) == 1
                # Reminder after the repeat interval while nobody acknowledged.
                await _power(store, T0 + 11 * MIN, [122] * 30)
                await ev.tick(T0 + 40 * MIN)
                assert _transitions(hook) == ["opened", "reminder"]
                ev.evaluator.acknowledge(live[0], "li.wei", "已派人到现场检查", T0 + 41 * MIN)
            async with evaluator(root, store, db_path, smtp) as ev:  # restart before sending
                await ev.tick(T0 + 41 * MIN)
                assert _transitions(hook) == ["opened", "reminder", "acknowledged"]
                await ev.tick(T0 + 100 * MIN)  # acknowledged: no more reminders
                assert _transitions(hook) == ["opened", "reminder", "acknowledged"]
                await _power(store, T0 + 101 * MIN, [95])  # inside the hysteresis band
                await ev.tick(T0 + 101 * MIN)
                assert len(_transitions(hook)) == 3
                await _power(store, T0 + 102 * MIN, [80])  # cleared
                await ev.tick(T0 + 102 * MIN)
                await ev.tick(T0 + 103 * MIN)
            assert _transitions(hook) == ["opened", "reminder", "acknowledged", "resolved"]
            keys = [json.loads(p.body)["key"] for p in hook.posts]
            assert len(set(keys)) == 4
            assert {p.headers["Idempotency-Key"] for p in hook.posts} == set(keys)
            subjects = [m["Subject"] for m in smtp.messages]
            assert subjects == [
                "【告警】电表功率过高",
                "【仍未处理】电表功率过高",
                "【已认领】电表功率过高",
                "【已恢复】电表功率过高",
            ]
            body = smtp.messages[2].get_payload(decode=True).decode()
            assert "认领人：li.wei" in body and "备注：已派人到现场检查" in body
    finally:
        await store.aclose()


async def test_unreachable_webhook_fails_fast_and_is_retried_then_given_up(
    influx_db: object, tmp_path: Path
) -> None:
    store = open_store(f"{influx_db.url}?db={influx_db.database}")  # type: ignore[attr-defined]
    try:
        with http_receiver() as hook:
            hook.status = 503
            root = _config(tmp_path, hook.url, "hook, down")
            await _power(store, T0, [150] * 8)
            async with evaluator(root, store, tmp_path / "alerts.db", None) as ev:
                began = time.monotonic()
                await ev.tick(T0 + 7 * MIN)
                assert time.monotonic() - began < 5  # the 2 s timeout bounds a dead receiver
                items = {i.channel: i for i in ev.db.outbox()}
                assert items["hook"].attempts == 1 and items["hook"].sent_ns is None
                assert "HTTP 503" in (items["hook"].last_error or "")
                assert items["down"].attempts == 1 and not items["down"].dead
                await ev.sender.send_due(T0 + 7 * MIN + 30 * 10**9)  # before the backoff
                assert len(hook.posts) == 1
                hook.status = 200
                await ev.sender.send_due(T0 + 9 * MIN)  # after 60 s backoff
                assert len(hook.posts) == 2
                await ev.sender.send_due(T0 + 20 * MIN)
                await ev.sender.send_due(T0 + 60 * MIN)
                items = {i.channel: i for i in ev.db.outbox()}
                assert items["hook"].sent_ns is not None and len(hook.posts) == 2
                assert items["down"].dead and items["down"].attempts == 3
    finally:
        await store.aclose()


@pytest.mark.parametrize("hour_utc", [15])  # 23:00 in Beijing
async def test_quiet_hours_hold_a_warning_until_morning(
    influx_db: object, tmp_path: Path, hour_utc: int
) -> None:
    store = open_store(f"{influx_db.url}?db={influx_db.database}")  # type: ignore[attr-defined]
    night = T0 + (hour_utc - 2) * 60 * MIN
    try:
        with http_receiver() as hook:
            root = _config(tmp_path, hook.url, "hook")
            await _power(store, night, [150] * 8)
            async with evaluator(root, store, tmp_path / "alerts.db", None) as ev:
                await ev.tick(night + 7 * MIN)
                assert hook.posts == []
                for later in (40, 80, 120):  # the 30-minute reminders do not pile up
                    await ev.tick(night + later * MIN)
                assert hook.posts == []
                morning = T0 + (23 - 2) * 60 * MIN + 1  # 07:00 Beijing is 23:00 UTC
                await ev.sender.send_due(morning)
                assert _transitions(hook) == ["opened"]
    finally:
        await store.aclose()
