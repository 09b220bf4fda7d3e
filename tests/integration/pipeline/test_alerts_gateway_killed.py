"""A gateway killed and restarted, end to end (issue 22): firmware-sim meters polled by the
edge agent (a subprocess) over Modbus TCP, telemetry through a real mosquitto into the
ingest service and the SQLite store; the API, started with alerts on, opens a no-data
incident per meter when the agent is killed and resolves it when the agent is back; a real
HTTP receiver gets each signed webhook and aiosmtpd (STARTTLS) each email exactly once per
transition, across a restart of the API in the middle of the outage."""

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
from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_api.settings import AlertSettings, ApiSettings, SmtpSettings
from peakline_core.alerts.webhooks import SIGNATURE_HEADER, verify_generic
from peakline_ingest.pipeline import BatchPolicy
from peakline_ingest.service import IngestService, IngestSettings
from peakline_ingest.validate import DeviceIdentity
from peakline_store.sqlite import SqliteStore
from peakline_testing import configs
from peakline_testing.configs import copy_example
from peakline_testing.waiting import eventually
from tests.integration.api.alerts_support import http_receiver, smtp_receiver
from tests.integration.edge.edge_harness import AgentProcess
from tests.unit.api.api_support import example_config

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[3]
SECRET = "gw-test-secret"


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
                   "severity": "critical", "channels": ["hook", "mail"]}],
    }  # fmt: skip
    configs.write_config_dir(
        root,
        sites=[configs.site(name="S1", floor_area_m2=2000)],
        agents=[configs.agent(broker, prefix)],
        devices=[device("m1"), device("m2")],
        files={"alerts.yaml": alerts},
    )


async def test_gateway_killed_opens_and_restart_resolves(
    tmp_path: Path, mosquitto: Any, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GW_TEST_SECRET", SECRET)
    devices = [
        DeviceSpec(id=d, profile="sdm630", physics=Physics(base_kw=20, peak_kw=20))
        for d in ("m1", "m2")
    ]
    scenario = Scenario(name="gw", seed=3, speed=1.0, physics_step_s=1,
                        start=datetime(2025, 1, 6, 8, tzinfo=UTC), devices=devices)  # fmt: skip
    with http_receiver() as hook, smtp_receiver(tmp_path) as smtp:
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
                token = keys.create("op", Role.OPERATOR, ["c1"])[1]

            def new_app() -> Any:  # one API process; a second one is its restart
                return create_app(
                    ApiSettings(config_dir=root, store_url="sqlite:///unused", keys_db=keys_db,
                                dashboard=False, alerts=AlertSettings(True, 0.2, smtp=SmtpSettings(
                                    "127.0.0.1", smtp.port, ca_file=smtp.cert))),
                    store=store, config=platform,
                )  # fmt: skip

            app = new_app()

            def transitions() -> list[tuple[str, str]]:
                out = []
                for p in hook.posts:
                    assert verify_generic(SECRET, p.headers[SIGNATURE_HEADER], p.body)
                    body = json.loads(p.body)
                    out.append((body["incident"]["subject"], body["transition"]))
                return sorted(out)

            try:
                agent.start()
                # Both meters in the store before the evaluator's first pass (a slow start
                # of the agent is not a dropout).
                deadline = time.monotonic() + 60
                while {
                    s.tags["device"]
                    for s in await store.latest("reading", "quality", {"device": ["m1", "m2"]})
                } != {"m1", "m2"}:
                    assert time.monotonic() < deadline, "no readings from the meters"
                    await asyncio.sleep(0.2)  # re-check interval, not a synchronisation
                async with app.router.lifespan_context(app):
                    alerts = app.state.peakline.alerts
                    api = httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app), base_url="http://api",
                        headers={"Authorization": f"Bearer {token}"},
                    )  # fmt: skip
                    # Data flows: a few passes and no incident (the meters report).
                    await eventually(
                        lambda: alerts.passes >= 15, 30, "fifteen evaluator passes", every_s=0.1
                    )
                    assert transitions() == [], transitions()
                    agent.kill()  # the gateway dies: nothing more arrives
                    await eventually(
                        lambda: transitions() == [("m1", "opened"), ("m2", "opened")],
                        60.0,
                        "an opened webhook per meter",
                        every_s=0.1,
                    )
                    r = await api.get("/api/v1/alerts/incidents", params={"state": "open"})
                    assert sorted(i["subject"] for i in r.json()) == ["m1", "m2"]
                    await api.aclose()
                app = new_app()  # the API restarts while the gateway is still down
                async with app.router.lifespan_context(app):
                    alerts = app.state.peakline.alerts
                    await eventually(
                        lambda: alerts.passes >= 10, 30, "ten passes after the restart", every_s=0.1
                    )
                    assert len(hook.posts) == 2  # nothing re-sent, nothing re-opened
                    agent.start()  # back: the spool and new polls reach the store again
                    await eventually(lambda: transitions() == [("m1", "opened"), ("m1", "resolved"),
                                                  ("m2", "opened"), ("m2", "resolved")],
                                     60.0, "a resolved webhook per meter", every_s=0.1)  # fmt: skip
                    seen = alerts.passes
                    await eventually(
                        lambda: alerts.passes >= seen + 5, 30, "five more passes", every_s=0.1
                    )
                    assert len(hook.posts) == 4  # exactly once per transition
                    await eventually(
                        lambda: len(smtp.messages) >= 4, 60.0, "four emails", every_s=0.1
                    )
                    assert sorted(m["Subject"] for m in smtp.messages) == [
                        "【告警】Meter silent", "【告警】Meter silent",
                        "【已恢复】Meter silent", "【已恢复】Meter silent",
                    ]  # fmt: skip
            finally:
                agent.stop_quietly()
                stop.set()
                await asyncio.wait_for(worker, 30)
                await store.aclose()
