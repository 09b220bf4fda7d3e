"""Commands, the ledger and DR events through the real app (in-memory store, no broker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from peakline_api.app import create_app
from peakline_api.keys import KeyStore
from peakline_api.settings import ApiSettings
from peakline_core.storage import Row
from peakline_core.storage.schema import READING
from peakline_core.wire.payloads import CommandAck, CommandState, encode
from tests.unit.api.api_fakes import MemoryStore
from tests.unit.api.api_support import KEYS, NOW_NS, Api, example_config

S = 1_000_000_000


class Clock:
    def __init__(self) -> None:
        self.ns = NOW_NS

    def __call__(self) -> int:
        return self.ns


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def api(tmp_path: Path, repo_root: Path, clock: Clock) -> AsyncIterator[Api]:
    config = example_config(repo_root / "config")
    store = MemoryStore()
    rows = []
    for i in range(30):  # the last 30 minutes: school at 100 kW, setpoint 22 degC
        ts = NOW_NS - (30 - i) * 60 * S
        for device, point, value in (
            ("school-meter", "power_total", 100_000.0),
            ("school-hvac", "setpoint", 22.0),
            ("office-meter", "power_total", 200_000.0),
            ("office-hvac", "setpoint", 23.0),
        ):
            site = config.devices[device].site
            tags = {"site": site, "device": device, "point": point}
            rows.append(Row(READING, tags, {"value": value}, ts))
    await store.write(rows)
    keys_db = tmp_path / "keys.db"
    tokens = {}
    with KeyStore(keys_db) as keys:
        for name, (role, cities) in KEYS.items():
            tokens[name] = keys.create(name, role, cities)[1]
    settings = ApiSettings(config_dir=config.root, store_url="memory:", keys_db=keys_db)
    app = create_app(settings, store=store, config=config, clock_ns=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            api = Api(client, store, tokens)
            api.app = app  # type: ignore[attr-defined]
            yield api


def body(**kw: object) -> dict[str, object]:
    out: dict[str, object] = {
        "site": "rt-school",
        "device": "school-hvac",
        "point": "setpoint",
        "value": 23.0,
        "expires_in_s": 30,
    }
    out.update(kw)
    return out


async def post(api: Api, who: str, data: dict[str, object], url: str = "/api/v1/commands"):
    return await api.client.post(url, json=data, headers=api.headers(who))


async def test_operator_command_accepted_and_readable(api: Api) -> None:
    r = await post(api, "operator_rt", body(idempotency_key="k1"))
    assert r.status_code == 202, r.text
    cmd = r.json()
    assert cmd["state"] == "accepted" and cmd["value"] == 23.0  # no broker: not sent yet
    again = await post(api, "operator_rt", body(idempotency_key="k1"))
    assert again.json()["id"] == cmd["id"]
    conflict = await post(api, "operator_rt", body(idempotency_key="k1", value=24.0))
    assert conflict.status_code == 409
    got = await api.get("viewer_rt", f"/api/v1/commands/{cmd['id']}")
    assert got.status_code == 200 and got.json()["history"][0]["state"] == "accepted"
    hidden = await api.get("operator_lk", f"/api/v1/commands/{cmd['id']}")
    assert hidden.status_code == 404


async def test_only_operators_write(api: Api) -> None:
    assert (await post(api, "viewer_rt", body())).status_code == 403
    assert (await post(api, "operator_lk", body())).status_code == 404  # not in its scope


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (body(value=35.0), "out_of_range"),
        (body(value=22.3), "off_step"),
        (body(point="zone_temp"), "not_writable"),
        (body(site="rt-library", device="library-meter", point="power_total"), "read_only"),
    ],
)
async def test_rejected_at_the_api_and_in_the_ledger(
    api: Api, data: dict[str, object], reason: str
) -> None:
    r = await post(api, "operator_rt", data)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["reason"] == reason
    ledger = await api.get("viewer_rt", "/api/v1/commands", params={"state": "rejected"})
    items = ledger.json()["items"]
    assert [i["id"] for i in items] == [problem["command_id"]]
    assert items[0]["reason"].startswith(reason)


async def test_unanswered_command_expires(api: Api, clock: Clock) -> None:
    cmd = (await post(api, "operator_rt", body(expires_in_s=10))).json()
    service = api.app.state.peakline.control  # type: ignore[attr-defined]
    clock.ns += 12 * S
    await service.sweep()
    assert (await api.get("viewer_rt", f"/api/v1/commands/{cmd['id']}")).json()[
        "state"
    ] == "accepted"
    clock.ns += 4 * S  # past expiry + 5 s grace
    await service.sweep()
    got = (await api.get("viewer_rt", f"/api/v1/commands/{cmd['id']}")).json()
    assert got["state"] == "expired" and got["history"][-1]["source"] == "sweeper"


async def test_dr_event_plans_from_flexibility(api: Api, clock: Clock) -> None:
    data = {"sites": ["rt-school", "rt-office"], "reduce_pct": 10, "end": "now+30m",
            "marginal_g_per_kwh": 800}  # fmt: skip
    r = await post(api, "operator_rt", data, "/api/v1/dr-events")
    assert r.status_code == 201, r.text
    event = r.json()
    assert event["state"] == "active"
    plans = {p["site"]: p for p in event["plan"]}
    school = plans["rt-school"]  # 10 % of 100 kW = 10 kW at 6 kW/degC -> +2 degC (the max)
    assert school["target_kw"] == pytest.approx(10.0)
    assert school["actions"][0]["value"] == 24.0 and school["expected_kw"] == pytest.approx(12.0)
    office = plans["rt-office"]  # 20 kW: 2 degC x 9 kW = 18, then the deferrable 20 kW
    assert [a["point"] for a in office["actions"]] == ["setpoint", "running"]
    assert len(event["commands"]) == 3 and all(c["id"] for c in event["commands"])
    ledger = await api.get("viewer_rt", "/api/v1/commands", params={"origin": f"dr:{event['id']}"})
    assert ledger.json()["total"] == 3
    assert all(c["revert_after_s"] == pytest.approx(1800) for c in ledger.json()["items"])
    # the meters show the shed: school 90 kW, office 170 kW for 10 minutes
    rows = []
    for i in range(10):
        ts = NOW_NS + i * 60 * S + S
        rows.append(Row(READING, {"site": "rt-school", "device": "school-meter",
                                  "point": "power_total"}, {"value": 90_000.0}, ts))  # fmt: skip
        rows.append(Row(READING, {"site": "rt-office", "device": "office-meter",
                                  "point": "power_total"}, {"value": 170_000.0}, ts))  # fmt: skip
    await api.store.write(rows)
    clock.ns += 10 * 60 * S
    got = (await api.get("viewer_rt", f"/api/v1/dr-events/{event['id']}")).json()
    results = {s["site"]: s for s in got["results"]["sites"]}
    assert results["rt-school"]["shed_kw"] == pytest.approx(10.0)
    assert results["rt-school"]["shed_kwh"] == pytest.approx(10.0 * 10 / 60)
    assert results["rt-office"]["shed_kw"] == pytest.approx(30.0)
    assert results["rt-school"]["baseline_method"].startswith("pre_event")
    assert got["results"]["total_avoided_kg_co2e"] == pytest.approx(40 * 10 / 60 * 0.8)


async def test_dr_needs_operator_and_one_target(api: Api) -> None:
    data = {"sites": ["rt-school"], "reduce_kw": 5, "end": "now+1h"}
    assert (await post(api, "viewer_rt", data, "/api/v1/dr-events")).status_code == 403
    both = {**data, "reduce_pct": 5}
    assert (await post(api, "operator_rt", both, "/api/v1/dr-events")).status_code == 422


async def test_dr_baseline_from_similar_days(api: Api, clock: Clock) -> None:
    """With history on at least 3 similar days, those days are the baseline, not the
    pre-event window (2025-03-01 is a Saturday: the similar days are earlier weekends)."""
    day = 86_400 * S
    rows = []
    for back in (7, 13, 14):  # two Saturdays and a Sunday, like the event's weekend day
        for i in range(20):
            ts = NOW_NS - back * day + i * 60 * S
            tags = {"site": "rt-school", "device": "school-meter", "point": "power_total"}
            rows.append(Row(READING, tags, {"value": 130_000.0}, ts))
    for i in range(5):  # the event: 124 kW
        ts = NOW_NS + i * 60 * S + S
        tags = {"site": "rt-school", "device": "school-meter", "point": "power_total"}
        rows.append(Row(READING, tags, {"value": 124_000.0}, ts))
    await api.store.write(rows)
    data = {"sites": ["rt-school"], "reduce_kw": 6, "end": "now+10m"}
    event = (await post(api, "operator_rt", data, "/api/v1/dr-events")).json()
    clock.ns += 5 * 60 * S
    got = (await api.get("viewer_rt", f"/api/v1/dr-events/{event['id']}")).json()
    (site,) = got["results"]["sites"]
    assert site["baseline_method"] == "similar_days(3)"
    assert site["baseline_kw"] == pytest.approx(130.0)
    assert site["shed_kw"] == pytest.approx(6.0) and site["coverage"] == pytest.approx(1.0)
    # no factor in the event: the region's marginal factor from config/emission-factors
    assert site["factor_source"].startswith("cn-mee-") and site["marginal_g_per_kwh"] > 0
    assert site["avoided_kg_co2e"] == pytest.approx(
        site["shed_kwh"] * site["marginal_g_per_kwh"] / 1000
    )


# -- issue #19: demand-response bounds, cancel, atomic creation; command limits


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("1970-01-01T00:00:00Z", "now+1h"),  # every listing would allocate gigabytes
        ("now-1h", "now+1h"),
        ("now", "2099-01-01T00:00:00Z"),  # a 75-year hold
        ("now", "now+25h"),
        ("now+40d", "now+41d"),
    ],
)
async def test_dr_event_window_is_bounded(api: Api, start: str, end: str) -> None:
    data = {"sites": ["rt-school"], "reduce_kw": 5, "start": start, "end": end}
    r = await post(api, "operator_rt", data, "/api/v1/dr-events")
    assert r.status_code == 422, r.text
    listing = await api.get("viewer_rt", "/api/v1/dr-events")
    assert listing.status_code == 200 and listing.json()["items"] == []


async def test_a_stored_unbounded_event_keeps_to_the_command_limits(api: Api) -> None:
    """An event stored before the bounds existed (1970 to 2099) is held at most 24 h on the
    edge and its listing answers (verification slots capped)."""
    dr = api.app.state.peakline.dr  # type: ignore[attr-defined]
    action = {"device": "school-hvac", "point": "setpoint", "kind": "setpoint", "value": 23.0,
              "previous": 22.0, "expected_kw": 6}  # fmt: skip
    plan = {"site": "rt-school", "target_kw": 5, "expected_kw": 6, "shortfall_kw": 0,
            "skipped": [], "actions": [action]}  # fmt: skip
    event = {"id": "old", "name": "", "sites": ["rt-school"], "reduce_kw": 5, "reduce_pct": None,
             "start_ns": 0, "end_ns": 4_070_908_800 * S, "marginal_g_per_kwh": None,
             "state": "scheduled", "created_by": "operator_rt", "created_ns": 0, "commands": [],
             "plan": [plan]}  # fmt: skip
    dr.ledger.put_event("old", 0, event)
    await dr.tick()
    ledger = await api.get("viewer_rt", "/api/v1/commands", params={"origin": "dr:old"})
    (cmd,) = ledger.json()["items"]
    assert cmd["revert_after_s"] <= 86_400
    listing = await api.get("viewer_rt", "/api/v1/dr-events")
    assert listing.status_code == 200, listing.text
    assert listing.json()["items"][0]["results"]["slot_s"] == 60


async def test_a_failed_dr_creation_leaves_nothing_behind(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    dr = api.app.state.peakline.dr  # type: ignore[attr-defined]

    async def broken(entry: object) -> object:
        raise RuntimeError("broker gone mid-way")

    monkeypatch.setattr(dr.commands, "send", broken)
    data = {"sites": ["rt-school"], "reduce_kw": 5, "end": "now+30m"}
    with pytest.raises(RuntimeError):
        await post(api, "operator_rt", data, "/api/v1/dr-events")
    assert dr.ledger.events() == []
    monkeypatch.undo()
    listing = await api.get("viewer_rt", "/api/v1/dr-events")
    assert listing.status_code == 200 and listing.json()["items"] == []
    accepted = await api.get("viewer_rt", "/api/v1/commands", params={"state": "accepted"})
    assert accepted.json()["total"] == 0  # the one it recorded expired


async def test_cancelling_a_dr_event_reverts_what_was_applied(api: Api, clock: Clock) -> None:
    data = {"sites": ["rt-school"], "reduce_kw": 6, "end": "now+30m"}
    event = (await post(api, "operator_rt", data, "/api/v1/dr-events")).json()
    (ref,) = event["commands"]
    ledger = api.app.state.peakline.dr.ledger  # type: ignore[attr-defined]
    ledger.transition(ref["id"], CommandState.SENT, clock.ns, source="api")
    ledger.transition(ref["id"], CommandState.APPLIED, clock.ns, source="edge:gw-river")
    url = f"/api/v1/dr-events/{event['id']}/cancel"
    assert (await post(api, "viewer_rt", {}, url)).status_code == 403
    assert (await post(api, "operator_lk", {}, url)).status_code == 404
    r = await post(api, "operator_rt", {}, url)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["state"] == "cancelled" and len(got["reverts"]) == 1
    # the edge's hold ends at once (it restores the value from before the event, or
    # relinquishes a BACnet priority), rather than a new write of the old value that would
    # keep a BACnet priority slot held
    revert = (await api.get("viewer_rt", f"/api/v1/commands/{got['reverts'][0]['id']}")).json()
    (action,) = event["plan"][0]["actions"]
    assert (revert["point"], revert["value"]) == ("setpoint", action["value"])
    assert 0 < revert["revert_after_s"] <= 0.01 and action["value"] != action["previous"]
    assert (await post(api, "operator_rt", {}, url)).status_code == 422  # once


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ({}, {"dry_run": True}),
        ({}, {"revert_after_s": 600}),
        ({"value": 1.0}, {"value": True}),  # equal in Python, not the same command
    ],
)
async def test_a_reused_idempotency_key_with_other_options_conflicts(
    api: Api, first: dict[str, object], again: dict[str, object]
) -> None:
    await post(api, "operator_rt", body(idempotency_key="k", **first))
    r = await post(api, "operator_rt", body(idempotency_key="k", **{**first, **again}))
    assert r.status_code == 409, r.text


async def test_a_flood_of_invalid_commands_is_rate_limited_before_the_ledger(api: Api) -> None:
    codes = [(await post(api, "operator_rt", body(value=35.0))).status_code for _ in range(40)]
    assert codes.count(422) == 30 and codes.count(429) == 10
    ledger = await api.get("viewer_rt", "/api/v1/commands", params={"state": "rejected"})
    assert ledger.json()["total"] == 30


async def test_an_ack_must_match_its_commands_device_and_agent(api: Api, clock: Clock) -> None:
    """Issue #19: an ack settles a command only when it comes from the agent of the command's
    device, on that device's topic, for that point."""
    cmd = (await post(api, "operator_rt", body())).json()
    service = api.app.state.peakline.control  # type: ignore[attr-defined]
    topics = service.topics

    def ack(agent: str, device: str, point: str = "setpoint") -> None:
        message = CommandAck(id=cmd["id"], agent=agent, site="rt-school", device=device,
                             point=point, state=CommandState.APPLIED, ts=clock.ns)  # fmt: skip
        service.on_ack(topics.ack("rt-school", device), encode(message))

    ack("gw-lakeside", "school-hvac")  # another gateway
    ack("gw-oldtown", "school-meter")  # the right gateway, another of its devices
    ack("gw-oldtown", "school-hvac", "running")  # another point
    got = (await api.get("viewer_rt", f"/api/v1/commands/{cmd['id']}")).json()
    assert got["state"] == "accepted" and service.acks_refused == 3
    ack("gw-oldtown", "school-hvac")
    got = (await api.get("viewer_rt", f"/api/v1/commands/{cmd['id']}")).json()
    assert got["state"] == "applied"


async def test_one_unreadable_dr_event_does_not_fail_the_listing(api: Api) -> None:
    dr = api.app.state.peakline.dr  # type: ignore[attr-defined]
    dr.ledger.put_event("broken", 0, {"id": "broken", "sites": ["rt-school"], "state": "active"})
    r = await api.get("viewer_rt", "/api/v1/dr-events")
    assert r.status_code == 200, r.text
    assert r.json()["items"] == [{"id": "broken", "state": "unreadable", "results": None}]


async def test_one_unreadable_dr_event_does_not_stop_the_others(api: Api) -> None:
    """The scheduler skips a damaged record and still starts a due event beside it (a
    KeyError out of tick() once ended the scheduler's task for good)."""
    dr = api.app.state.peakline.dr  # type: ignore[attr-defined]
    dr.ledger.put_event("broken", 0, {"id": "broken", "sites": ["rt-school"], "state": "active"})
    dr.ledger.put_event("broken2", 0, {"id": "broken2", "state": "scheduled", "start_ns": "x"})
    action = {"device": "school-hvac", "point": "setpoint", "kind": "setpoint", "value": 23.0,
              "previous": 22.0, "expected_kw": 6}  # fmt: skip
    plan = {"site": "rt-school", "target_kw": 5, "expected_kw": 6, "shortfall_kw": 0,
            "skipped": [], "actions": [action]}  # fmt: skip
    event = {"id": "good", "name": "", "sites": ["rt-school"], "reduce_kw": 5, "reduce_pct": None,
             "start_ns": 0, "end_ns": dr.clock_ns() + 3_600 * S, "marginal_g_per_kwh": None,
             "state": "scheduled", "created_by": "operator_rt", "created_ns": 1, "commands": [],
             "plan": [plan]}  # fmt: skip
    dr.ledger.put_event("good", 1, event)
    await dr.tick()
    ledger = await api.get("viewer_rt", "/api/v1/commands", params={"origin": "dr:good"})
    assert len(ledger.json()["items"]) == 1
