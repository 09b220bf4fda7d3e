"""The alerts page in headless Chromium against the real API under uvicorn (SQLite store):
an open incident of the example rules is listed with its rule's name, an operator
acknowledges it with a comment from the page, and the API then says so; the page speaks
zh-CN when chosen. Screenshot: artifacts/alerts.png."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from peakline_core.storage import Row
from peakline_store.open import open_store
from tests.integration.api.api_live_support import build, example_config, serve

pytestmark = pytest.mark.asyncio

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip
MIN = 60 * 1_000_000_000
HVAC_SUPPLY = {"site": "rt-school", "device": "school-hvac", "point": "supply_temp"}


async def test_alerts_page_lists_and_acknowledges(tmp_path: Path, repo_root: Path) -> None:
    from playwright.async_api import async_playwright

    config = example_config(repo_root / "config")
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    # No seeded history: the seed's own supply temperatures (minute-aligned, well under 30 °C)
    # would interleave with the hot readings below and keep the rule from firing.
    app, tokens = await build(tmp_path, config, store_url, seed=False, now_ns=None)
    now = time.time_ns()
    store = open_store(store_url)
    try:
        await store.write(
            [
                Row("reading", HVAC_SUPPLY, {"value": 33.0, "quality": 0}, now - k * MIN)
                for k in range(20)
            ]
        )  # fmt: skip
    finally:
        await store.aclose()
    token = tokens["operator_rt"]
    ARTIFACTS.mkdir(exist_ok=True)
    async with serve(app) as url, async_playwright() as pw:
        # Evaluate only: the sender is not running (the example channels are not reachable).
        await app.state.peakline.alerts.evaluator.evaluate(now)  # type: ignore[attr-defined]
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(url + "/dashboard/alerts.html")
            await page.fill("#key-input", token)
            await page.click("#key-form button")
            row = page.locator("#incidents tbody tr", has_text="School HVAC supply temperature")
            await row.wait_for(timeout=15_000)
            incident_id = await row.get_attribute("data-id")
            assert await row.locator("td").nth(4).inner_text() == "Riverton"  # the city's name
            await page.screenshot(path=str(ARTIFACTS / "alerts.png"), full_page=True)
            await row.locator("input").fill("sent the caretaker")
            await row.locator("button").click()
            await row.wait_for(state="detached", timeout=15_000)  # gone from the open list
            async with httpx.AsyncClient(base_url=url) as http:
                r = await http.get(
                    f"/api/v1/alerts/incidents/{incident_id}",
                    headers={"Authorization": f"Bearer {token}"},
                )
            body = r.json()
            assert body["state"] == "acknowledged"
            assert body["comment"] == "sent the caretaker"
            assert body["acknowledged_by"] == "operator_rt"
            await page.evaluate("localStorage.setItem('peakline.lang', 'zh-CN')")
            await page.reload()
            # with the key already set, the page lists on arrival (no open incident is left)
            await page.locator("#none").wait_for(state="visible", timeout=15_000)
            await page.select_option("#state", "acknowledged")
            zh_row = page.locator(f'#incidents tbody tr[data-id="{incident_id}"]')
            await zh_row.wait_for(timeout=15_000)
            assert "已认领" in await zh_row.inner_text()
            assert await page.locator('th[data-i18n="alerts.subject"]').inner_text() == "对象"
            assert not errors, errors
        finally:
            await browser.close()
