"""Alert routes (issue 22): incidents and rules scoped to the caller's cities, acknowledge
with a comment (operators only, once), notification history per incident."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_api.settings import ApiSettings
from peakline_core.config import PlatformConfig
from peakline_core.storage import Row
from tests.unit.api.api_fakes import MemoryStore
from tests.unit.api.api_support import KEYS, NOW_NS, Api

MIN = 60 * 1_000_000_000


@pytest.fixture
async def alerting(tmp_path: Path, platform_config: PlatformConfig) -> AsyncIterator[Api]:
    """The example config's rules; the school's HVAC supply has been at 33 °C for 20 min."""
    store = MemoryStore()
    await store.write(
        [
            Row(
                "reading",
                {"site": "rt-school", "device": "school-hvac", "point": "supply_temp"},
                {"value": 33.0, "quality": 0},
                NOW_NS - k * MIN,
            )
            for k in range(20)
        ]
    )
    keys_db = tmp_path / "keys.db"
    tokens = {}
    with KeyStore(keys_db) as keys:
        for name, (role, cities) in KEYS.items():
            tokens[name] = keys.create(name, role, cities)[1]
    settings = ApiSettings(config_dir=platform_config.root, store_url="memory:", keys_db=keys_db)
    app = create_app(settings, store=store, config=platform_config, clock_ns=lambda: NOW_NS)
    async with app.router.lifespan_context(app):
        assert not app.state.peakline.alerts.running  # opt-in: nothing runs (or sends) by itself
        await app.state.peakline.alerts.evaluator.evaluate(NOW_NS)  # evaluate only, send nothing
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            api = Api(client, store, tokens)
            api.app = app  # type: ignore[attr-defined]  # the evaluator, for evaluating passes
            yield api


async def test_incidents_are_scoped_to_the_callers_cities(alerting: Api) -> None:
    r = await alerting.get("viewer_rt", "/api/v1/alerts/incidents", params={"state": "open"})
    assert r.status_code == 200, r.text
    hot = [i for i in r.json() if i["rule"] == "school-supply-hot"]
    assert len(hot) == 1
    assert hot[0]["subject"] == "school-hvac" and hot[0]["site"] == "rt-school"
    assert hot[0]["summary"]["value"] == 33.0
    r = await alerting.get("operator_lk", "/api/v1/alerts/incidents")
    assert r.json() == []
    r = await alerting.get("operator_lk", f"/api/v1/alerts/incidents/{hot[0]['id']}")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await alerting.get("operator_lk", "/api/v1/alerts/incidents", params={"city": "riverton"})
    assert r.status_code == 404


async def test_acknowledge_once_with_a_comment(alerting: Api) -> None:
    r = await alerting.get("viewer_rt", "/api/v1/alerts/incidents", params={"site": "rt-school"})
    incident = next(i for i in r.json() if i["rule"] == "school-supply-hot")
    url = f"/api/v1/alerts/incidents/{incident['id']}/acknowledge"
    body = {"comment": "已通知物业检查锅炉"}
    r = await alerting.client.post(url, json=body, headers=alerting.headers("viewer_rt"))
    assert r.status_code == 403
    r = await alerting.client.post(url, json=body, headers=alerting.headers("operator_lk"))
    assert r.status_code == 404
    r = await alerting.client.post(url, json=body, headers=alerting.headers("operator_rt"))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "acknowledged"
    assert r.json()["acknowledged_by"] == "operator_rt"
    assert r.json()["comment"] == "已通知物业检查锅炉"
    r = await alerting.client.post(url, json=body, headers=alerting.headers("operator_rt"))
    assert r.status_code == 409
    r = await alerting.get("viewer_rt", f"/api/v1/alerts/incidents/{incident['id']}")
    history = {(n["transition"], n["channel"], n["status"]) for n in r.json()["notifications"]}
    assert history == {
        ("opened", "riverton-ops-wecom", "pending"),
        ("acknowledged", "riverton-ops-wecom", "pending"),
    }  # not sent in this test: the sender is not running


async def test_rules_of_visible_cities(alerting: Api) -> None:
    r = await alerting.get("viewer_rt", "/api/v1/alerts/rules")
    assert r.status_code == 200
    assert {x["kind"] for x in r.json()} >= {"threshold", "no_data", "daily_energy"}
    assert all(x["city"] == "riverton" for x in r.json())
    r = await alerting.get("operator_lk", "/api/v1/alerts/rules")
    assert r.json() == []


HOT_OFFICE = {
    "id": "office-supply-hot",
    "name": "办公楼空调供水温度过高",
    "scope": {"city": "riverton", "device": "office-hvac"},
    "condition": {"kind": "threshold", "point": "supply_temp", "op": ">", "value": 30},
    "channels": ["riverton-ops-wecom"],
}


async def test_admins_manage_their_citys_rules_with_the_config_checks(
    alerting: Api, tmp_path: Path
) -> None:
    with KeyStore(tmp_path / "keys.db") as keys:
        alerting.tokens["admin_lk"] = keys.create("admin_lk", Role.ADMIN, ["lakeside"])[1]
    url = "/api/v1/alerts/rules"

    async def send(who: str, method: str, path: str, body: object = None) -> httpx.Response:
        return await alerting.client.request(method, path, json=body, headers=alerting.headers(who))

    assert (await send("operator_rt", "POST", url, HOT_OFFICE)).status_code == 403
    assert (await send("admin_lk", "POST", url, HOT_OFFICE)).status_code == 404  # not its city
    # The same cross-checks as `peakline config check`, path relative to the rule.
    bad = {**HOT_OFFICE, "scope": {"city": "riverton", "site": "lk-townhall"},
           "channels": ["lakeside-nope"]}  # fmt: skip
    r = await send("admin_all", "POST", url, bad)
    assert r.status_code == 422, r.text
    assert r.json()["issues"] == [
        {"path": "rule.scope.site", "message": "no site 'lk-townhall' in 'riverton'"},
        {"path": "rule.channels[0]", "message": "unknown channel 'lakeside-nope'"},
    ]
    narrow = {"city": "riverton", "site": "rt-school"}
    body = {**HOT_OFFICE, "condition": {"kind": "city_month"}, "scope": narrow}
    r = await send("admin_all", "POST", url, body)
    assert r.status_code == 422 and "a city_month rule watches a whole city" in r.text
    r = await send("admin_all", "POST", url, {**HOT_OFFICE, "id": "school-supply-hot"})
    assert r.status_code == 409  # alerts.yaml's rules are read-only here

    r = await send("admin_all", "POST", url, HOT_OFFICE)
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "api" and r.json()["updated_by"] == "admin_all"
    assert (await send("admin_all", "POST", url, HOT_OFFICE)).status_code == 409

    r = await alerting.get("viewer_rt", url)
    sources = {x["id"]: x["source"] for x in r.json()}
    assert sources["office-supply-hot"] == "api" and sources["school-supply-hot"] == "file"
    assert "office-supply-hot" not in {
        x["id"] for x in (await alerting.get("operator_lk", url)).json()
    }

    one = f"{url}/office-supply-hot"
    r = await send("admin_all", "PUT", one, {**HOT_OFFICE, "enabled": False})
    assert r.status_code == 200 and r.json()["enabled"] is False
    r = await send("admin_all", "PUT", one, {**HOT_OFFICE, "id": "other"})
    assert r.status_code == 422
    assert (await send("admin_lk", "PUT", one, HOT_OFFICE)).status_code == 404
    assert (
        await send("admin_all", "PUT", f"{url}/school-supply-hot", HOT_OFFICE)
    ).status_code == 409
    assert (await send("admin_lk", "DELETE", one)).status_code == 404
    assert (await send("admin_all", "DELETE", one)).status_code == 204
    assert (await send("admin_all", "DELETE", one)).status_code == 404


async def test_an_api_rule_is_evaluated_and_a_disabled_one_is_not(
    alerting: Api, tmp_path: Path
) -> None:
    url = "/api/v1/alerts/rules"
    headers = alerting.headers("admin_all")
    await alerting.store.write(
        [Row("reading", {"site": "rt-office", "device": "office-hvac", "point": "supply_temp"},
             {"value": 34.0, "quality": 0}, NOW_NS - k * MIN) for k in range(3)]
    )  # fmt: skip
    app_alerts = alerting.app.state.peakline.alerts  # type: ignore[attr-defined]
    disabled = {**HOT_OFFICE, "enabled": False}
    assert (await alerting.client.post(url, json=disabled, headers=headers)).status_code == 201
    assert await app_alerts.evaluator.evaluate(NOW_NS + MIN) == []
    r = await alerting.client.put(f"{url}/office-supply-hot", json=HOT_OFFICE, headers=headers)
    assert r.status_code == 200
    done = await app_alerts.evaluator.evaluate(NOW_NS + MIN)
    assert [(t.incident.rule, t.incident.subject, t.kind) for t in done] == [
        ("office-supply-hot", "office-hvac", "opened")
    ]
