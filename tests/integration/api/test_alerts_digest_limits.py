"""Digest mode and robot rate limits (issue 22), against a real HTTP receiver standing in for
the robots and a real influxd: low-severity transitions go out as one message per channel
per period; a robot never gets more than its documented messages a minute (a second for
Feishu), and what waits stays in the outbox, sent later, each row once, across a restart."""

from __future__ import annotations

import calendar
import json
import shutil
from pathlib import Path

import httpx

from peakline_api.alerts.evaluator import AlertEvaluator
from peakline_api.alerts.sender import Backoff, Sender
from peakline_api.alerts.store import AlertStore
from peakline_api.registry import Registry
from peakline_core.alerts import observe
from peakline_core.alerts.lifecycle import NS_PER_MINUTE
from peakline_core.config import load_config
from peakline_core.storage import Row
from peakline_store.open import open_store
from tests.integration.api.alerts_support import http_receiver

CASES = Path(__file__).resolve().parents[2] / "cases" / "config"
MIN = NS_PER_MINUTE
S = 1_000_000_000
T0 = calendar.timegm((2026, 1, 5, 2, 0, 0)) * S  # 02:00 UTC
CHECK = "分钟未收到数据，请检查仪表或网关是否离线"
HOUR3 = calendar.timegm((2026, 1, 5, 3, 0, 0)) * S

DIGEST = """
channels:
  - {{id: robot, city: c1, kind: wecom, url: "{url}/wecom", language: zh-CN,
     digest: {{minutes: 60, max_severity: info}}}}
rules:
  - {{id: quiet-a, name: 电表无数据, scope: {{city: c1}}, severity: info, channels: [robot],
     condition: {{kind: no_data, minutes: 30}}}}
  - {{id: quiet-b, name: 电表长时间无数据, scope: {{city: c1}}, severity: info, channels: [robot],
     condition: {{kind: no_data, minutes: 20}}}}
  - {{id: loud, name: 电表离线, scope: {{city: c1}}, severity: warning, channels: [robot],
     condition: {{kind: no_data, minutes: 25}}}}
"""


def _config(tmp_path: Path, alerts: str) -> object:
    root = tmp_path / "cfg"
    shutil.copytree(CASES / "_base", root)
    (root / "alerts.yaml").write_text(alerts)
    return load_config(root)


async def test_low_severity_goes_out_as_one_digest_per_period(
    influx_db: object, tmp_path: Path
) -> None:
    store = open_store(f"{influx_db.url}?db={influx_db.database}")  # type: ignore[attr-defined]
    try:
        with http_receiver() as hook, AlertStore(tmp_path / "alerts.db") as db:
            config = _config(tmp_path, DIGEST.format(url=hook.url))
            alerts = config.alerts  # type: ignore[attr-defined]
            ev = AlertEvaluator(alerts, Registry.from_config(config), store, db)  # type: ignore[arg-type]
            async with httpx.AsyncClient(timeout=5) as client:
                sender = Sender(alerts, db, smtp=None, client=client, backoff=Backoff(first_s=1))
                await ev.evaluate(T0)  # the evaluator starts: no data counts from here
                done = await ev.evaluate(T0 + 31 * MIN)
                assert sorted(t.incident.rule for t in done) == ["loud", "quiet-a", "quiet-b"]
                assert await sender.send_due(T0 + 31 * MIN) == 1  # the warning, at once
                assert json.loads(hook.posts[0].body)["markdown"]["content"].startswith(
                    "**【告警】电表离线**"
                )
                # Data again: everything resolves; the warning's resolution goes at once.
                await store.write(
                    [Row("reading", {"site": "s1", "device": "m1", "point": "p"},
                         {"value": 1.0, "quality": 0}, T0 + 39 * MIN)]
                )  # fmt: skip
                assert len(await ev.evaluate(T0 + 40 * MIN)) == 3
                assert await sender.send_due(T0 + 40 * MIN) == 1
                assert await sender.send_due(HOUR3 - 1) == 0  # the period is not over
                assert await sender.send_due(HOUR3) == 4  # four rows, one message
                assert len(hook.posts) == 3
                text = json.loads(hook.posts[2].body)["markdown"]["content"]
                lines = text.splitlines()
                assert lines[0] == "**【告警汇总】4 条变化**"
                assert sorted(lines[1:]) == sorted(
                    [
                        f"> 【告警】电表无数据 · m1：已超过 30 {CHECK}",
                        f"> 【告警】电表长时间无数据 · m1：已超过 20 {CHECK}",
                        "> 【已恢复】电表无数据 · m1",
                        "> 【已恢复】电表长时间无数据 · m1",
                    ]
                )
                assert await sender.send_due(HOUR3 + MIN) == 0  # nothing twice
    finally:
        await store.aclose()


ROBOTS = """
channels:
  - {{id: wecom, city: c1, kind: wecom, url: "{url}/wecom"}}
  - {{id: feishu, city: c1, kind: feishu, url: "{url}/feishu"}}
rules:
  - {{id: r, name: Meter silent, scope: {{city: c1}}, channels: [wecom, feishu],
     condition: {{kind: no_data, minutes: 30}}}}
"""


def _enqueue(db: AlertStore, n: int, channel: str) -> None:
    for i in range(n):
        _, transitions = observe(
            None, "firing", rule="r", subject=f"m{i}", city="c1", site="s1",
            severity="warning", now_ns=T0, summary={"kind": "no_data", "minutes": 30},
        )  # fmt: skip
        t = transitions[0]
        db.save(t.incident, [(t.key, channel, t.kind, t.at_ns, T0)])


async def test_robots_rate_limits_queue_and_survive_a_restart(tmp_path: Path) -> None:
    with http_receiver() as hook:
        alerts = _config(tmp_path, ROBOTS.format(url=hook.url)).alerts  # type: ignore[attr-defined]

        def sent(path: str) -> int:
            return sum(p.path == path for p in hook.posts)

        async with httpx.AsyncClient(timeout=5) as client:
            with AlertStore(tmp_path / "alerts.db") as db:
                _enqueue(db, 25, "wecom")
                _enqueue(db, 7, "feishu")
                sender = Sender(alerts, db, smtp=None, client=client, backoff=Backoff())
                assert await sender.send_due(T0) == 20 + 5  # WeCom 20 a minute, Feishu 5 a s
                assert (sent("/wecom"), sent("/feishu")) == (20, 5)
            # A restart within the minute: the requests already made still count.
            with AlertStore(tmp_path / "alerts.db") as db:
                sender = Sender(alerts, db, smtp=None, client=client, backoff=Backoff())
                assert await sender.send_due(T0 + 30 * S) == 2  # Feishu's next second
                assert await sender.send_due(T0 + 59 * S) == 0
                assert await sender.send_due(T0 + 61 * S) == 5  # a new minute for WeCom
                assert await sender.send_due(T0 + 120 * S) == 0
                assert (sent("/wecom"), sent("/feishu")) == (25, 7)
                assert all(n.sent_ns is not None for n in db.outbox())
                assert len(hook.posts) == 32  # each row once
