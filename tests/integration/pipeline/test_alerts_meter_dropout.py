"""A meter dropout, end to end (issue 22): firmware-sim stops one of two meters answering
(a timeout fault, for a window) while the edge agent (a subprocess) keeps polling it over
Modbus TCP and publishing error-quality readings through mosquitto into ingest and the SQLite
store. The API, started with alerts on, opens one no-data incident for that meter only and
reminds; an operator acknowledges it through the API (reminders stop, the acknowledgement is
notified); the meter answers again and the incident resolves. Each transition reaches the
real HTTP receiver exactly once, signed.

The dropout is set and cleared on the simulator as the test goes (not on a schedule): it
starts once both meters' readings are stored and the API is up, and ends once no reminder
has come for `QUIET_AFTER_ACK_S` after the acknowledgement."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from firmware_sim import DeviceSpec, Physics, Scenario, load_profiles, run
from firmware_sim.scenario import FaultKind
from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_api.settings import AlertSettings, ApiSettings
from peakline_core.alerts.webhooks import SIGNATURE_HEADER, verify_generic
from peakline_ingest.pipeline import BatchPolicy
from peakline_ingest.service import IngestService, IngestSettings
from peakline_ingest.validate import DeviceIdentity
from peakline_store.sqlite import SqliteStore
from peakline_testing import configs
from peakline_testing.configs import copy_example
from peakline_testing.waiting import eventually
from tests.integration.api.alerts_support import http_receiver
from tests.integration.edge.edge_harness import AgentProcess
from tests.unit.api.api_support import example_config

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[3]
SECRET = "gw-test-secret"
REPEAT_MINUTES = 0.05  # 3 s: reminders until acknowledged
QUIET_AFTER_ACK_S = 3 * REPEAT_MINUTES * 60
"""The meter stays silent this long after the acknowledgement went out: three reminder periods
in which a reminder would have come had acknowledging not stopped them."""


def write_config(root: Path, broker: str, prefix: str, sim: Any, hook: str) -> None:
    copy_example(root, "profiles")

    def device(name: str) -> dict[str, Any]:
        ep = sim.endpoints[name]
        return {
            "id": name, "site": "s1", "agent": "gw1", "profile": "sdm630", "poll_interval_s": 0.25,
            "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": ep.port,
                           "unit_id": ep.unit_id, "timeout_s": 1, "retries": 1},
        }  # fmt: skip

    alerts = {
        "channels": [{"id": "hook", "city": "c1", "kind": "webhook", "url": f"{hook}/in",
                      "secret_env": "GW_TEST_SECRET", "language": "en"},
                     {"id": "mail", "city": "c1", "kind": "email",
                      "recipients": ["duty@c1.example"], "language": "zh-CN"}],
        "rules": [{"id": "silent", "name": "Meter silent",
                   "scope": {"city": "c1", "site": "s1"},
                   "condition": {"kind": "no_data", "minutes": 0.1},  # 6 s
                   "severity": "warning", "channels": ["hook"],
                   "repeat_minutes": REPEAT_MINUTES}],
    }  # fmt: skip
    configs.write_config_dir(
        root,
        sites=[configs.site(name="S1", floor_area_m2=2000)],
        agents=[configs.agent(broker, prefix)],
        devices=[device("m1"), device("m2")],
        files={"alerts.yaml": alerts},
    )


async def test_meter_dropout_opens_acknowledged_through_the_api_and_resolves(
    tmp_path: Path, mosquitto: Any, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GW_TEST_SECRET", SECRET)
    devices = [
        DeviceSpec(id=d, profile="sdm630", physics=Physics(base_kw=20, peak_kw=20))
        for d in ("m1", "m2")
    ]
    scenario = Scenario(name="dropout", seed=3, speed=1.0, physics_step_s=1,
                        start=datetime(2025, 1, 6, 8, tzinfo=UTC), devices=devices)  # fmt: skip
    with http_receiver() as hook:
        async with run(scenario, load_profiles(REPO / "config/profiles")) as sim:
            root = tmp_path / "config"
            write_config(root, mosquitto.url, topic_prefix, sim, hook.url)
            platform = example_config(root)
            store = SqliteStore(tmp_path / "store.db")
            settings = IngestSettings(
                broker_url=mosquitto.url, topic_prefix=topic_prefix, share_group=None,
                client_id=f"ingest-{topic_prefix}", state_dir=tmp_path / "ingest",
                policy=BatchPolicy(batch_delay_s=0.2), lateness_s=2.0,
            )  # fmt: skip
            ids = {d.id: DeviceIdentity(d.site, d.agent) for d in platform.devices.values()}
            stop = asyncio.Event()
            worker = asyncio.create_task(IngestService(settings, store, ids).run(stop))
            agent = AgentProcess(root, tmp_path / "state", tmp_path / "agent.log")
            keys_db = tmp_path / "keys.db"
            with KeyStore(keys_db) as keys:
                token = keys.create("duty-officer", Role.OPERATOR, ["c1"])[1]
            app = create_app(
                ApiSettings(config_dir=root, store_url="sqlite:///unused", keys_db=keys_db,
                            dashboard=False, alerts=AlertSettings(True, 0.2)),
                store=store, config=platform,
            )  # fmt: skip

            def transitions() -> list[tuple[str, str]]:
                out = []
                for p in hook.posts:
                    assert verify_generic(SECRET, p.headers[SIGNATURE_HEADER], p.body)
                    body = json.loads(p.body)
                    out.append((body["incident"]["subject"], body["transition"]))
                return out

            try:
                agent.start()
                deadline = time.monotonic() + 60
                while {
                    s.tags["device"]
                    for s in await store.latest("reading", "value", {"device": ["m1", "m2"]})
                } != {"m1", "m2"}:
                    assert time.monotonic() < deadline, "no readings from the meters"
                    await asyncio.sleep(0.2)  # re-check interval, not a synchronisation
                async with app.router.lifespan_context(app):
                    api = httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url="http://api",
                        headers={"Authorization": f"Bearer {token}"},
                    )  # fmt: skip
                    # m2 stops answering (sim time runs at wall speed) until cleared below
                    dropout = sim.set_fault(FaultKind.TIMEOUT, "m2")
                    await eventually(
                        lambda: ("m2", "opened") in transitions(), 60, "m2 opened", every_s=0.1
                    )
                    await eventually(
                        lambda: ("m2", "reminder") in transitions(), 30, "a reminder", every_s=0.1
                    )
                    r = await api.get("/api/v1/alerts/incidents", params={"state": "open"})
                    [incident] = r.json()  # m1 kept answering: one incident
                    assert incident["subject"] == "m2"
                    r = await api.post(
                        f"/api/v1/alerts/incidents/{incident['id']}/acknowledge",
                        json={"comment": "已派人检查2号电表的通信线"},
                    )
                    assert r.status_code == 200, r.text
                    await eventually(
                        lambda: ("m2", "acknowledged") in transitions(), 30, "ack sent", every_s=0.1
                    )
                    reminders = transitions().count(("m2", "reminder"))
                    # not a synchronisation: the span a reminder would have come in
                    await asyncio.sleep(QUIET_AFTER_ACK_S)
                    assert transitions().count(("m2", "reminder")) == reminders  # none after
                    sim.clear_fault(dropout)  # m2 answers again
                    await eventually(
                        lambda: ("m2", "resolved") in transitions(), 90, "resolved", every_s=0.1
                    )
                    assert transitions().count(("m2", "reminder")) == reminders  # none after
                    got = transitions()
                    assert [k for k in got if k[1] != "reminder"] == [
                        ("m2", "opened"), ("m2", "acknowledged"), ("m2", "resolved"),
                    ]  # fmt: skip
                    r = await api.get(f"/api/v1/alerts/incidents/{incident['id']}")
                    done = r.json()
                    assert done["state"] == "resolved" and done["acknowledged_by"] == "duty-officer"
                    await api.aclose()
            finally:
                agent.stop_quietly()
                stop.set()
                await asyncio.wait_for(worker, 30)
                await store.aclose()
