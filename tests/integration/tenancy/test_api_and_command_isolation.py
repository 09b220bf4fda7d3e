"""Two cities (the example programme: riverton and lakeside) on one platform: a city's
operator can neither read the other city's data nor command its devices.

The API runs in-process with a real mosquitto behind its command service; a watcher with full
read rights on the broker proves that no refused command was published: a legitimate command
sent after the hostile ones arrives (the marker), and nothing for the other city's devices did.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import httpx
import pytest

from peakline_api.app import create_app
from peakline_api.demo_data import reading_rows
from peakline_api.keys import KeyStore, Role
from peakline_api.registry import Registry
from peakline_api.settings import ApiSettings
from peakline_testing.waiting import eventually
from tests.unit.api.api_fakes import MemoryStore
from tests.unit.api.api_support import HOUR, NOW_NS, example_config

KEYS = {
    "op_rt": (Role.OPERATOR, ["riverton"]),
    "op_lk": (Role.OPERATOR, ["lakeside"]),
    "viewer_lk": (Role.VIEWER, ["lakeside"]),
    "op_both": (Role.OPERATOR, ["riverton", "lakeside"]),
    "viewer_all": (Role.VIEWER, ["*"]),
}
DEADLINE_S = 20.0


@dataclass
class Platform:
    client: httpx.AsyncClient
    tokens: dict[str, str]
    prefix: str
    heard: list[tuple[str, bytes]]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def command(self, who: str, **body: object) -> httpx.Response:
        data = {"expires_in_s": 30, **body}
        return await self.client.post("/api/v1/commands", json=data, headers=self.auth(who))


async def _listen(client: aiomqtt.Client, heard: list[tuple[str, bytes]]) -> None:
    async for message in client.messages:
        heard.append((str(message.topic), bytes(message.payload)))  # type: ignore[arg-type]


@pytest.fixture
async def platform(
    tmp_path: Path, repo_root: Path, mosquitto, topic_prefix: str
) -> AsyncIterator[Platform]:  # type: ignore[no-untyped-def]
    config = example_config(repo_root / "config")
    store = MemoryStore()
    await store.write(list(reading_rows(Registry.from_config(config), NOW_NS - HOUR, NOW_NS, 300)))
    keys_db = tmp_path / "keys.db"
    with KeyStore(keys_db) as keys:
        tokens = {name: keys.create(name, role, cities)[1] for name, (role, cities) in KEYS.items()}
    settings = ApiSettings(
        config_dir=config.root,
        store_url="memory:",
        keys_db=keys_db,
        broker_url=mosquitto.url,
        topic_prefix=topic_prefix,
        dashboard=False,
    )
    app = create_app(settings, store=store, config=config, clock_ns=time.time_ns)
    heard: list[tuple[str, bytes]] = []
    async with (
        aiomqtt.Client(mosquitto.host, mosquitto.port) as watcher,
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c,
    ):
        await watcher.subscribe(f"{topic_prefix}/v1/cmd/#", qos=1)
        task = asyncio.create_task(_listen(watcher, heard))
        try:
            await eventually(
                lambda: app.state.peakline.control.client is not None,
                DEADLINE_S,
                "API broker connection",
            )
            yield Platform(c, tokens, topic_prefix, heard)
        finally:
            task.cancel()


LAKESIDE_READS = [
    "/api/v1/sites/lk-townhall",
    "/api/v1/devices/townhall-meter",
    "/api/v1/sites?district=lakeside-harbour",
    "/api/v1/readings/latest?site=lk-townhall",
    "/api/v1/series?device=townhall-meter&point=power_total&start=-2h",
    "/api/v1/reports/emissions?site=lk-townhall&start=-1d",
    "/api/v1/commands?site=lk-townhall",
    "/api/v1/anomalies?city=lakeside",
]


@pytest.mark.parametrize("url", LAKESIDE_READS)
async def test_riverton_operator_cannot_read_lakeside(platform: Platform, url: str) -> None:
    r = await platform.client.get(url, headers=platform.auth("op_rt"))
    # The same 404 as for an id that does not exist: no existence oracle across cities.
    assert r.status_code == 404, (url, r.status_code, r.text)
    ghost = url
    for real, fake in [
        ("townhall-meter", "no-such-dev"),
        ("lk-townhall", "no-such-site"),
        ("lakeside-harbour", "no-such-dist"),
        ("lakeside", "no-such-city"),
    ]:
        ghost = ghost.replace(real, fake)
    absent = await platform.client.get(ghost, headers=platform.auth("op_rt"))
    assert absent.status_code == 404 and absent.json()["title"] == r.json()["title"]
    # The same request from lakeside's own viewer is served.
    own = await platform.client.get(url, headers=platform.auth("viewer_lk"))
    assert own.status_code == 200, (url, own.text)


async def test_catalogue_lists_only_own_city(platform: Platform) -> None:
    r = await platform.client.get("/api/v1/sites?limit=100", headers=platform.auth("op_rt"))
    assert r.status_code == 200
    sites = {s["id"] for s in r.json()["items"]}
    assert sites and all(s.startswith("rt-") for s in sites)


HOSTILE_COMMANDS = [
    # who, site, device, point
    ("op_rt", "lk-townhall", "townhall-meter", "power_total"),  # another city's device
    ("op_rt", "rt-school", "townhall-meter", "power_total"),  # foreign device, own site
    ("op_rt", "lk-townhall", "school-hvac", "setpoint"),  # own device under a foreign site
    ("op_lk", "rt-school", "school-hvac", "setpoint"),  # lakeside reaching into riverton
    ("viewer_lk", "lk-townhall", "townhall-meter", "power_total"),  # a viewer cannot write
]


async def test_cross_city_commands_are_refused_and_never_published(platform: Platform) -> None:
    for who, site, device, point in HOSTILE_COMMANDS:
        r = await platform.command(who, site=site, device=device, point=point, value=20.0)
        assert r.status_code in (403, 404, 422), (who, site, device, r.text)
    ledger = await platform.client.get("/api/v1/commands", headers=platform.auth("op_lk"))
    assert ledger.status_code == 200 and ledger.json()["items"] == []
    # A legitimate riverton command is published: the marker that the watcher is listening.
    ok = await platform.command(
        "op_rt", site="rt-school", device="school-hvac", point="setpoint", value=20.5
    )
    assert ok.status_code in (200, 201, 202), ok.text
    marker = f"{platform.prefix}/v1/cmd/rt-school/school-hvac"
    await eventually(
        lambda: any(t == marker for t, _ in platform.heard), DEADLINE_S, "the legitimate command"
    )
    assert [t for t, _ in platform.heard] == [marker]
    # Lakeside's operator does not see riverton's command either.
    ledger = await platform.client.get("/api/v1/commands", headers=platform.auth("op_lk"))
    assert ledger.json()["items"] == []
    mine = await platform.client.get("/api/v1/commands", headers=platform.auth("op_rt"))
    command_id = mine.json()["items"][0]["id"]
    theirs = await platform.client.get(
        f"/api/v1/commands/{command_id}", headers=platform.auth("op_lk")
    )
    assert theirs.status_code == 404


async def test_multi_city_and_programme_wide_keys(platform: Platform) -> None:
    for who in ("op_both", "viewer_all"):
        for url in ("/api/v1/sites/lk-townhall", "/api/v1/sites/rt-school"):
            r = await platform.client.get(url, headers=platform.auth(who))
            assert r.status_code == 200, (who, url, r.text)
    # A programme-wide viewer reads every public city but commands none.
    r = await platform.command(
        "viewer_all", site="rt-school", device="school-hvac", point="setpoint", value=20.0
    )
    assert r.status_code == 403
    ok = await platform.command(
        "op_both", site="rt-school", device="school-hvac", point="setpoint", value=20.5
    )
    assert ok.status_code in (200, 201, 202), ok.text
    marker = f"{platform.prefix}/v1/cmd/rt-school/school-hvac"
    await eventually(lambda: any(t == marker for t, _ in platform.heard), DEADLINE_S, "the command")
    assert {t for t, _ in platform.heard} == {marker}
