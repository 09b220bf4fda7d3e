"""The dashboard in headless Chromium (Debian's /usr/bin/chromium) against a running stack.

Overview and live chart: mosquitto (real, free port), the API under uvicorn on the SQLite store
seeded with two hours of readings, and a telemetry publisher on the broker standing in for the
school meter's gateway, so the site chart receives live points over SSE. Command: the real edge
agent (subprocess) polls school-hvac from a Modbus TCP peer; the page sends a setpoint and
waits for `applied` (written, read back, acked). firmware-sim and ingest are not in this loop;
test_dashboard_demo_stack.py drives the same pages on the real `peakline demo` stack.
Screenshots are saved under tests/browser/artifacts/.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
import yaml

from peakline_core.wire.payloads import DeviceStatus, Reading, TelemetryBatch, encode
from peakline_core.wire.topics import Topics
from peakline_testing.configs import copy_example
from tests.browser.browser_support import ARTIFACTS, browser_page, check_energy_cells
from tests.integration.api.api_live_support import build, example_config, serve

pytestmark = pytest.mark.asyncio


async def publish_telemetry(host: str, port: int, topics: Topics, stop: asyncio.Event) -> None:
    """Stand-in for the edge: the school meter's power every 0.5 s, and its retained status."""
    async with aiomqtt.Client(host, port) as mqtt:
        now = time.time_ns()
        status = DeviceStatus(
            agent="gw-oldtown", site="rt-school", device="school-meter", state="online", ts=now
        )
        await mqtt.publish(topics.status("rt-school", "school-meter"), encode(status), retain=True)
        seq = 0
        while not stop.is_set():
            seq += 1
            ts = time.time_ns()
            batch = TelemetryBatch(
                agent="gw-oldtown",
                site="rt-school",
                device="school-meter",
                seq=seq,
                sent=ts,
                readings=[Reading(point="power_total", ts=ts, value=40_000.0 + 500 * (seq % 7))],
            )
            await mqtt.publish(topics.telemetry("rt-school", "school-meter"), encode(batch), qos=1)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


@contextlib.asynccontextmanager
async def stack(
    tmp_path: Path, repo_root: Path, mosquitto, prefix: str
) -> AsyncIterator[tuple[str, dict[str, str]]]:
    config = example_config(repo_root / "config")
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    app, tokens = await build(tmp_path, config, store_url, mosquitto.url, prefix, now_ns=None)
    stop = asyncio.Event()
    publisher = asyncio.create_task(
        publish_telemetry(mosquitto.host, mosquitto.port, Topics(prefix), stop)
    )
    try:
        async with serve(app) as url:
            yield url, tokens
    finally:
        stop.set()
        await publisher


async def test_overview_and_live_site_chart(
    tmp_path: Path, repo_root: Path, mosquitto, topic_prefix: str
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    async with (
        stack(tmp_path, repo_root, mosquitto, topic_prefix) as (url, tokens),
        browser_page(url, tokens["operator_rt"]) as page,
    ):
        rows = page.locator("#sites-table tbody tr")
        await rows.first.wait_for(timeout=15_000)
        sites = await rows.evaluate_all("rs => rs.map(r => r.dataset.site)")
        riverton = yaml.safe_load((repo_root / "config/sites.yaml").read_text())["sites"]
        assert set(sites) == {s["id"] for s in riverton if s["city"] == "riverton"}
        power = await page.locator('tr[data-site="rt-school"] td.power').inner_text()
        assert float(power.replace(",", "")) > 0  # in the page's locale (en: "1,234.5")
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {tokens['operator_rt']}"}
        ) as http:
            await check_energy_cells(page, http)  # (the seeded store has today's energy)

        # A meter that reads but has no final energy yet (the first minutes of a fresh
        # install): the API's answer is edited in flight so the page shows that case.
        async def no_energy_yet(route: Any) -> None:
            response = await route.fetch()
            sites = await response.json()
            for site in sites:
                if site["id"] == "rt-office":
                    site["energy_today_kwh"] = site["emissions_today_kgco2e"] = None
            await route.fulfill(response=response, json=sites)

        await page.route("**/api/v1/overview", no_energy_yet)
        await page.reload()
        office = page.locator('tr[data-site="rt-office"]')
        await office.wait_for(timeout=15_000)
        for col in ("energy", "emissions"):
            assert await office.locator(f"td.{col}").inner_text() == "pending"
            assert "final readings" in (await office.locator(f"td.{col}").get_attribute("title"))
        assert await page.locator('tr[data-site="rt-school"] td.energy').get_attribute("data-value")
        await page.unroute("**/api/v1/overview")
        await page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

        await page.click('tr[data-site="rt-school"] a')
        await page.locator("#power-chart canvas").wait_for(timeout=15_000)
        await page.locator("#live-state.live").wait_for(timeout=15_000)
        first = int(await page.locator("#power-chart").get_attribute("data-points") or 0)
        assert first > 0
        # Live points arrive over SSE and are appended to the drawn chart.
        await page.wait_for_function(
            "(n) => Number(document.getElementById('power-chart').dataset.points) > n",
            arg=first,
            timeout=15_000,
        )
        await page.locator("#ci-chart canvas").wait_for(timeout=15_000)
        # An operator marks the seeded anomaly a false alarm (issue 18); the API keeps it.
        event = page.locator('#anomalies li[data-device][data-verdict=""]').first
        await event.locator('button[data-verdict="false_alarm"]').click()
        judged = page.locator('#anomalies li[data-verdict="false_alarm"]')
        await judged.wait_for(timeout=15_000)
        assert "false alarm" in (await judged.locator(".verdict").inner_text())
        await page.reload()
        await page.locator('#anomalies li[data-verdict="false_alarm"]').wait_for(timeout=15_000)
        await page.screenshot(path=str(ARTIFACTS / "site.png"), full_page=True)


def command_config(root: Path, repo_root: Path, broker: str, prefix: str, port: int) -> Path:
    """The example district, with school-hvac polled by agent `gw1` from a Modbus peer."""
    copy_example(root)
    devices = yaml.safe_load((root / "devices.yaml").read_text())
    for d in devices["devices"]:
        if d["id"] == "school-hvac":
            d["agent"] = "gw1"
            d["poll_interval_s"] = 0.5
            d["connection"] = {
                "driver": "modbus-tcp",
                "host": "127.0.0.1",
                "port": port,
                "timeout_s": 0.5,
                "retries": 0,
            }
    (root / "devices.yaml").write_text(yaml.safe_dump(devices, sort_keys=False))
    agents = yaml.safe_load((root / "agents.yaml").read_text())
    agents["agents"].append(
        {
            "id": "gw1",
            "site": "rt-school",
            "uplink": {"broker": broker, "topic_prefix": prefix, "batch_max_delay_s": 0.2},
        }
    )
    (root / "agents.yaml").write_text(yaml.safe_dump(agents, sort_keys=False))
    return root


async def test_command_from_the_page_comes_back_applied(
    tmp_path: Path, repo_root: Path, mosquitto, topic_prefix: str
) -> None:
    """Operator sets school-hvac's setpoint from the site page; the real edge agent writes it
    to a Modbus TCP peer, reads it back, and the page shows `applied`."""
    from peakline_testing.modbus_peer import Unit, modbus_peer
    from tests.integration.edge.edge_harness import AgentProcess

    ARTIFACTS.mkdir(exist_ok=True)
    hvac = Unit(holding={100: 210}, input={0: 215, 1: 1200}, coil={0: 1})
    async with modbus_peer({1: hvac}) as peer:
        root = command_config(
            tmp_path / "config", repo_root, mosquitto.url, topic_prefix, peer.port
        )
        agent = AgentProcess(root, tmp_path / "state", tmp_path / "agent.log")
        agent.start()
        try:
            config = example_config(root)
            app, tokens = await build(
                tmp_path,
                config,
                f"sqlite:///{tmp_path / 'store.db'}",
                mosquitto.url,
                topic_prefix,
                now_ns=None,
            )
            async with serve(app) as url, browser_page(url, tokens["operator_rt"]) as page:
                await page.goto(url + "/dashboard/site.html?site=rt-school")
                await page.locator('#cmd-target option[value="school-hvac/setpoint"]').wait_for(
                    state="attached", timeout=15_000
                )
                # The agent must be polling (it subscribed to commands) before we send.
                await page.wait_for_function(
                    '() => document.querySelector(\'#devices-table tr[data-device="school-hvac"]'
                    " td:nth-child(3)')?.textContent === 'online'",
                    timeout=30_000,
                )
                await page.select_option("#cmd-target", "school-hvac/setpoint")
                await page.fill("#cmd-value", "22.5")
                await page.click("#cmd-send")
                await page.wait_for_function(
                    "() => ['applied', 'rejected', 'failed', 'expired', 'error']"
                    ".includes(document.getElementById('cmd-state').textContent)",
                    timeout=60_000,
                )
                await page.screenshot(path=str(ARTIFACTS / "command.png"), full_page=True)
                state = await page.locator("#cmd-state").inner_text()
                detail = await page.locator("#cmd-detail").inner_text()
                assert state == "applied", (state, detail, agent.log.read_text()[-2000:])
            assert hvac.holding[100] == 225  # 22.5 degC at scale 0.1 on the wire
        finally:
            agent.stop_quietly()
