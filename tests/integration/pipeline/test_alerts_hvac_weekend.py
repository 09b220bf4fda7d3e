"""HVAC running all weekend, end to end (issue 22): firmware-sim's `hvac_waste` fault keeps a
school's HVAC on from Friday evening into Monday; the edge agent polls it over Modbus TCP and
publishes through a real mosquitto into ingest and a real influxd. The API's alert evaluator
(rule: power over 2 kW for 30 min, `during: {days: [sat, sun]}` in the site's Asia/Shanghai
time) opens one incident on the local Saturday, reminds, stops reminding once an operator
acknowledges it through the API, and resolves it when the local weekend ends. A real HTTP
receiver gets each signed webhook and aiosmtpd (STARTTLS) each email exactly once per
transition, across a restart of the evaluator during which the weekend ends.

How a weekend fits in a few seconds: everything runs on firmware-sim's manual clock. The test
steps it (20 simulated minutes a step, Friday 20:00 to Monday 01:00 local: 159 steps) and the
edge agent, built with `clock_ns=sim.clock.now` and polled with `poll_all` as the demo's
history backfill does, reads the registers and stamps the readings at that simulated time;
the API is built with the same clock, so its evaluator, reminders and acknowledgement all
live in simulated time. Every byte still crosses the real Modbus TCP, MQTT and influxd wire;
only the waiting is skipped. The cheaper alternatives are not honest here: writing readings
straight into the store skips the path, and a fast free-running clock ties what the evaluator
sees to the machine's load. At each checkpoint the test waits until the reading stamped at the
current simulated time is in influxd and the evaluator completed two passes after that (a
count, not a duration), so nothing depends on how fast the loaded machine is. The weekend is
the last-but-one one before today (ingest refuses readings older than 90 days)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from firmware_sim import DeviceSpec, Physics, Scenario, Simulation, load_profiles, run
from firmware_sim.scenario import FaultKind, FaultSpec
from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_api.settings import AlertSettings, ApiSettings, SmtpSettings
from peakline_core.alerts.webhooks import SIGNATURE_HEADER, verify_generic
from peakline_core.config import PlatformConfig
from peakline_core.storage import Store
from peakline_edge.agent import EdgeAgent
from peakline_ingest.pipeline import BatchPolicy
from peakline_ingest.service import IngestService, IngestSettings
from peakline_ingest.validate import DeviceIdentity
from peakline_store.open import open_store
from peakline_testing import configs
from peakline_testing.configs import copy_example
from peakline_testing.waiting import eventually
from tests.integration.api.alerts_support import http_receiver, smtp_receiver
from tests.unit.api.api_support import example_config

pytestmark = pytest.mark.timeout(240)
REPO = Path(__file__).resolve().parents[3]
SECRET = "hvac-test-secret"
NS = 1_000_000_000
MIN = 60 * NS
STEP = 20 * MIN
NAME = "School HVAC running at the weekend"


def last_friday_noon_utc() -> datetime:
    """Noon UTC (20:00 in Shanghai) of a Friday one to two weeks back: ingest refuses readings
    older than its `max_past_s` (90 days), so the weekend cannot be a fixed date."""
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    back = 7 + (today.weekday() - 4) % 7
    return today - timedelta(days=back)


# Shanghai is UTC+8 (no summer time): the school's Friday 20:00 is 12:00 UTC, its Saturday
# begins four hours later and its Monday 48 hours after that.
FRIDAY = last_friday_noon_utc()
FRI_20 = int(FRIDAY.timestamp()) * NS
SAT = FRI_20 + 4 * 60 * MIN
MON = SAT + 48 * 60 * MIN


def write_config(root: Path, broker: str, prefix: str, sim: Simulation, hook: str) -> None:
    copy_example(root, "profiles")
    ep = sim.endpoints["hvac1"]
    device = {
        "id": "hvac1", "site": "s1", "agent": "gw1", "profile": "hvac-controller",
        "poll_interval_s": 600,  # not used: the test polls once per simulated step
        "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": ep.port,
                       "unit_id": ep.unit_id, "timeout_s": 2, "retries": 2},
    }  # fmt: skip
    alerts = {
        "channels": [{"id": "hook", "city": "c1", "kind": "webhook", "url": f"{hook}/in",
                      "secret_env": "HVAC_TEST_SECRET", "language": "en"},
                     {"id": "mail", "city": "c1", "kind": "email",
                      "recipients": ["facilities@c1.example"], "language": "en"}],
        "rules": [{"id": "hvac-weekend", "name": NAME,
                   "scope": {"city": "c1", "site": "s1", "device_kinds": ["hvac"]},
                   "condition": {"kind": "threshold", "point": "power", "op": ">",
                                 "value": 2000, "for_minutes": 30},
                   "during": {"days": ["sat", "sun"]},
                   "severity": "warning", "channels": ["hook", "mail"],
                   "repeat_minutes": 120}],
    }  # fmt: skip
    configs.write_config_dir(
        root,
        sites=[configs.site(name="School", floor_area_m2=6200, timezone="Asia/Shanghai")],
        agents=[configs.agent(broker, prefix, batch_max_delay_s=0.01)],
        devices=[device],
        files={"alerts.yaml": alerts},
    )


@contextlib.asynccontextmanager
async def edge_on_sim_clock(
    platform: PlatformConfig, sim: Simulation, state_dir: Path
) -> AsyncIterator[EdgeAgent]:
    """The edge agent (spool, uplink) running in this process with no poll schedule: the test
    calls `poll_all` after each step of the simulated clock, as the demo's backfill does."""
    agent = EdgeAgent(platform, "gw1", state_dir, clock_ns=sim.clock.now)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop, scheduled=False))
    try:
        yield agent
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@contextlib.contextmanager
def receivers(tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    with http_receiver() as hook, smtp_receiver(tmp_path) as smtp:
        yield hook, smtp


async def test_hvac_running_all_weekend_opens_is_acknowledged_and_resolves_at_monday(
    tmp_path: Path,
    mosquitto: Any,
    influx_db: Any,
    topic_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HVAC_TEST_SECRET", SECRET)
    hvac = DeviceSpec(id="hvac1", profile="hvac-controller",
                      physics=Physics(capacity_kw=60, mode=1, setpoint_c=23))  # fmt: skip
    # The unit is left on from Friday afternoon, through the weekend, into Monday.
    waste = FaultSpec(kind=FaultKind.HVAC_WASTE, device="hvac1",
                      start=FRIDAY - timedelta(hours=2), duration="3d")  # fmt: skip
    scenario = Scenario(name="hvac-weekend", seed=7, speed=0, physics_step_s=60,
                        start=FRIDAY - timedelta(hours=4), utc_offset_h=8,
                        devices=[hvac], faults=[waste])  # fmt: skip
    with receivers(tmp_path) as (hook, smtp):
        async with contextlib.AsyncExitStack() as stack:
            sim = await stack.enter_async_context(
                run(scenario, load_profiles(REPO / "config/profiles"))
            )
            root = tmp_path / "config"
            write_config(root, mosquitto.url, topic_prefix, sim, hook.url)
            platform = example_config(root)
            store: Store = open_store(f"{influx_db.url}?db={influx_db.database}")
            stack.push_async_callback(store.aclose)
            settings = IngestSettings(
                broker_url=mosquitto.url, topic_prefix=topic_prefix, share_group=None,
                client_id=f"ingest-{topic_prefix}", state_dir=tmp_path / "ingest",
                policy=BatchPolicy(batch_delay_s=0.01),
            )  # fmt: skip
            ids = {d.id: DeviceIdentity(d.site, d.agent) for d in platform.devices.values()}
            stop = asyncio.Event()
            worker = asyncio.create_task(IngestService(settings, store, ids).run(stop))

            async def stop_worker() -> None:
                stop.set()
                await asyncio.wait_for(worker, 30)

            stack.push_async_callback(stop_worker)
            agent = await stack.enter_async_context(
                edge_on_sim_clock(platform, sim, tmp_path / "edge")
            )
            keys_db = tmp_path / "keys.db"
            with KeyStore(keys_db) as keys:
                token = keys.create("caretaker", Role.OPERATOR, ["c1"])[1]

            def new_app() -> Any:  # one API process; a second one is its restart
                return create_app(
                    ApiSettings(config_dir=root, store_url="sqlite:///unused", keys_db=keys_db,
                                dashboard=False, alerts=AlertSettings(True, 0.05, smtp=SmtpSettings(
                                    "127.0.0.1", smtp.port, ca_file=smtp.cert))),
                    store=store, config=platform, clock_ns=sim.clock.now,
                )  # fmt: skip

            def transitions() -> list[str]:
                out = []
                for p in hook.posts:
                    assert verify_generic(SECRET, p.headers[SIGNATURE_HEADER], p.body)
                    body = json.loads(p.body)
                    assert body["incident"]["subject"] == "hvac1"
                    out.append(body["transition"])
                return out

            def subjects() -> list[str]:
                return [str(m["Subject"]) for m in smtp.messages]

            async def step_to(t_ns: int) -> None:
                """The simulated clock forward to `t_ns`, one poll of the unit per step."""
                while sim.clock.now() < t_ns:
                    sim.clock.set(min(sim.clock.now() + STEP, t_ns))
                    await agent.poll_all()

            async def settle(app: Any) -> None:
                """Until influxd holds the reading stamped now (simulated) and the evaluator
                completed two passes after it was stored."""
                now = sim.clock.now()

                async def stored() -> bool:
                    got = await store.latest("reading", "value",
                                             {"device": ["hvac1"], "point": ["power"]})  # fmt: skip
                    return bool(got) and got[0].times[-1] >= now

                for _ in range(600):
                    if await stored():
                        break
                    await asyncio.sleep(0.05)  # re-check interval, not a synchronisation
                else:
                    raise AssertionError("the reading did not reach influxd")
                seen = app.state.peakline.alerts.passes
                await eventually(
                    lambda: app.state.peakline.alerts.passes >= seen + 2,
                    60,
                    "two passes",
                    every_s=0.02,
                )

            sim.clock.set(FRI_20)
            await agent.poll_all()
            app = new_app()
            async with app.router.lifespan_context(app):
                api = httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://api",
                    headers={"Authorization": f"Bearer {token}"},
                )  # fmt: skip
                # Friday night, local: running (and stored as such), but not the weekend.
                await step_to(SAT - STEP)
                await settle(app)
                [power] = await store.latest("reading", "value", {"device": ["hvac1"],
                                                                  "point": ["power"]})  # fmt: skip
                assert power.values[-1] is not None and power.values[-1] > 2000
                assert transitions() == [] and subjects() == []
                # Saturday 01:00 in Shanghai (still Friday in UTC): opened, once.
                await step_to(SAT + 60 * MIN)
                await settle(app)
                await eventually(lambda: transitions() == ["opened"], 60, "opened", every_s=0.05)
                r = await api.get("/api/v1/alerts/incidents", params={"state": "open"})
                [incident] = r.json()
                assert (incident["rule"], incident["subject"]) == ("hvac-weekend", "hvac1")
                # Nobody reacts for three hours: a reminder (every 120 simulated minutes).
                await step_to(SAT + 4 * 60 * MIN)
                await settle(app)
                await eventually(
                    lambda: "reminder" in transitions(), 60, "a reminder", every_s=0.05
                )
                r = await api.post(
                    f"/api/v1/alerts/incidents/{incident['id']}/acknowledge",
                    json={"comment": "校工周一上午关机 / caretaker switches it off Monday"},
                )
                assert r.status_code == 200, r.text
                await eventually(
                    lambda: transitions()[-1] == "acknowledged", 60, "ack sent", every_s=0.05
                )
                reminders = transitions().count("reminder")
                # Sunday noon: many repeat intervals later, still running, no more reminders.
                await step_to(MON - 12 * 60 * MIN)
                await settle(app)
                assert transitions().count("reminder") == reminders
                assert transitions()[-1] == "acknowledged"
                await api.aclose()
            # The evaluator stops; the weekend ends while it is down (the unit is still on).
            await step_to(MON + 60 * MIN)
            app = new_app()
            async with app.router.lifespan_context(app):
                await settle(app)
                await eventually(
                    lambda: transitions()[-1] == "resolved", 60, "resolved", every_s=0.05
                )
                await settle(app)  # more passes: nothing re-sent, nothing re-opened
                got = transitions()
                assert [k for k in got if k != "reminder"] == ["opened", "acknowledged", "resolved"]
                await eventually(
                    lambda: len(smtp.messages) >= len(got), 60, "the emails", every_s=0.05
                )
                assert sorted(subjects()) == sorted(
                    {"opened": "[Alert] ", "reminder": "[Still open] ",
                     "acknowledged": "[Acknowledged] ", "resolved": "[Resolved] "}[k] + NAME
                    for k in got
                )  # fmt: skip
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://api",
                    headers={"Authorization": f"Bearer {token}"},
                ) as api:
                    r = await api.get(f"/api/v1/alerts/incidents/{incident['id']}")
                done = r.json()
                assert done["state"] == "resolved" and done["acknowledged_by"] == "caretaker"
