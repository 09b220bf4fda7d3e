"""Alerts through the running API (issue 22): the app started with alerts on evaluates in
the background against influxd, a real HTTP receiver gets the webhooks; acknowledging
through the API stops the reminders; clearing the fault resolves the incident."""

from __future__ import annotations

import calendar
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI

from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_api.settings import AlertSettings, ApiSettings
from peakline_core.alerts.lifecycle import NS_PER_MINUTE
from peakline_core.storage import Row, Store
from peakline_store.open import open_store
from peakline_testing.waiting import eventually
from tests.integration.api.alerts_support import http_receiver

CASES = Path(__file__).resolve().parents[2] / "cases" / "config"
MIN = NS_PER_MINUTE
T0 = calendar.timegm((2026, 1, 5, 2, 0, 0)) * 1_000_000_000
RULES = """
channels:
  - {{id: hook, city: c1, kind: webhook, url: "{hook}/in", language: zh-CN}}
rules:
  - id: hot
    name: 功率过高
    scope: {{city: c1, device: m1}}
    condition: {{kind: threshold, point: power, op: ">", value: 100, for_minutes: 2}}
    channels: [hook]
    repeat_minutes: 10
"""


@contextlib.asynccontextmanager
async def alerting_api(
    influx_db: object, tmp_path: Path, hook_url: str, alerts: AlertSettings, now: list[int]
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, dict[str, str], Store]]:
    """The started API on influxd with the one rule above posting to `hook_url`, and 150 W
    over the rule's limit already stored: yields the app, an in-process client, an
    operator's Authorization header and a writer to the same database."""
    url = f"{influx_db.url}?db={influx_db.database}"  # type: ignore[attr-defined]
    writer = open_store(url)
    root = tmp_path / "cfg"
    shutil.copytree(CASES / "_base", root)
    (root / "alerts.yaml").write_text(RULES.format(hook=hook_url))
    keys_db = tmp_path / "keys.db"
    with KeyStore(keys_db) as keys:
        token = keys.create("wang.fang", Role.OPERATOR, ["c1"])[1]
    settings = ApiSettings(config_dir=root, store_url=url, keys_db=keys_db, alerts=alerts)
    app = create_app(settings, clock_ns=lambda: now[0])
    try:
        await writer.write(
            [
                Row("reading", {"site": "s1", "device": "m1", "point": "power"},
                    {"value": 150.0, "quality": 0}, T0 + k * MIN)
                for k in range(6)
            ]
        )  # fmt: skip
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
                yield app, api, {"Authorization": f"Bearer {token}"}, writer
    finally:
        await writer.aclose()


async def test_acknowledge_through_the_api_stops_reminders(
    influx_db: object, tmp_path: Path
) -> None:
    now = [T0 + 5 * MIN]
    with http_receiver() as hook:

        def kinds() -> list[str]:
            return [json.loads(p.body)["transition"] for p in hook.posts]

        settings = AlertSettings(True, 0.05)
        async with alerting_api(influx_db, tmp_path, hook.url, settings, now) as (
            app,
            api,
            auth,
            writer,
        ):
            alerts = app.state.peakline.alerts
            await eventually(
                lambda: kinds() == ["opened"], 15.0, "the opened webhook", every_s=0.02
            )
            now[0] += 11 * MIN
            await eventually(
                lambda: kinds() == ["opened", "reminder"], 15.0, "a reminder", every_s=0.02
            )
            r = await api.get("/api/v1/alerts/incidents?state=open", headers=auth)
            (incident,) = r.json()
            r = await api.post(
                f"/api/v1/alerts/incidents/{incident['id']}/acknowledge",
                json={"comment": "已安排巡检"},
                headers=auth,
            )
            assert r.status_code == 200, r.text
            await eventually(
                lambda: kinds()[-1:] == ["acknowledged"], 15.0, "the acknowledgement", every_s=0.02
            )
            now[0] += 30 * MIN
            seen = alerts.passes
            await eventually(
                lambda: alerts.passes >= seen + 3, 15.0, "three more passes", every_s=0.02
            )
            assert kinds() == ["opened", "reminder", "acknowledged"]
            await writer.write(
                [Row("reading", {"site": "s1", "device": "m1", "point": "power"},
                     {"value": 60.0, "quality": 0}, now[0] - MIN)]
            )  # fmt: skip
            await eventually(
                lambda: kinds()[-1:] == ["resolved"], 15.0, "the resolution", every_s=0.02
            )
            # the webhook has the resolution; its outbox row is marked sent a moment after
            # the receiver answered

            async def all_sent() -> bool:
                got = await api.get(f"/api/v1/alerts/incidents/{incident['id']}", headers=auth)
                return {n["status"] for n in got.json()["notifications"]} == {"sent"}

            await eventually(all_sent, 15.0, "every notification marked sent")
            r = await api.get(f"/api/v1/alerts/incidents/{incident['id']}", headers=auth)
            body = r.json()
            assert body["state"] == "resolved"
            assert body["acknowledged_by"] == "wang.fang"
            assert {n["status"] for n in body["notifications"]} == {"sent"}
            assert len(body["notifications"]) == 4
        texts = [json.loads(p.body)["title"] for p in hook.posts]
        assert texts == ["【告警】功率过高", "【仍未处理】功率过高", "【已认领】功率过高",
                         "【已恢复】功率过高"]  # fmt: skip


async def test_without_delivery_incidents_open_and_nothing_is_sent(
    influx_db: object, tmp_path: Path
) -> None:
    """`AlertSettings(deliver=False)` (the demo's): the incident opens and is listed, its
    notification waits in the outbox, and the webhook is never called."""
    now = [T0 + 5 * MIN]
    with http_receiver() as hook:
        settings = AlertSettings(True, 0.05, deliver=False)
        async with alerting_api(influx_db, tmp_path, hook.url, settings, now) as (
            app,
            api,
            auth,
            _,
        ):
            alerts = app.state.peakline.alerts

            async def opened() -> bool:
                r = await api.get("/api/v1/alerts/incidents?state=open", headers=auth)
                return len(r.json()) == 1

            await eventually(opened, 15.0, "the incident opened")
            seen = alerts.passes
            await eventually(
                lambda: alerts.passes >= seen + 5, 15.0, "five more passes", every_s=0.02
            )
            (incident,) = (
                await api.get("/api/v1/alerts/incidents?state=open", headers=auth)
            ).json()
            r = await api.get(f"/api/v1/alerts/incidents/{incident['id']}", headers=auth)
            statuses = [n["status"] for n in r.json()["notifications"]]
        assert statuses and "sent" not in statuses, statuses
        assert hook.posts == []
