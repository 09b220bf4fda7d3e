"""The GHG inventory page in headless Chromium against the real API under uvicorn on the SQLite
store (the example configuration, seeded with readings): a signed-in operator who opens the
page sees one inventory per visible site at once (the page once waited for a change of level
or year), headed by the site's name, each with its Scope 2 electricity line, its categories
and carriers in English or Simplified Chinese; the district level lists the districts.
Screenshots: artifacts/inventory-<lang>.png."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest

from tests.browser.browser_support import ARTIFACTS, check_language, chromium, signed_in
from tests.integration.api.api_live_support import build, example_config, serve

pytestmark = pytest.mark.asyncio

HEADING = {"en": "Scope", "zh-CN": "范围"}
ELECTRICITY = {"en": "electricity", "zh-CN": "电力"}
APART = {"en": "not in the totals", "zh-CN": "不计入合计"}


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_the_inventory_shows_on_arrival(tmp_path: Path, repo_root: Path, lang: str) -> None:
    config = example_config(repo_root / "config")
    app, tokens = await build(tmp_path, config, f"sqlite:///{tmp_path / 'store.db'}", now_ns=None)
    token = tokens["operator_rt"]
    year = dt.datetime.now(dt.UTC).year
    async with (
        serve(app) as url,
        chromium() as browser,
        signed_in(browser, url, token, lang) as page,
    ):
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as http:
            sites = (await http.get(f"/api/v1/reports/inventory?level=site&year={year}")).json()
            districts = (
                await http.get(f"/api/v1/reports/inventory?level=district&year={year}")
            ).json()
            names = {s["id"]: s["name"] for s in (await http.get("/api/v1/sites")).json()["items"]}
        want = [item["id"] for item in sites["items"]]
        assert want, sites
        await page.goto(url + "/dashboard/inventory.html")
        boxes = page.locator("#inventories article")
        await boxes.first.wait_for(timeout=15_000)
        assert await boxes.evaluate_all("bs => bs.map(b => b.dataset.id)") == want
        # headed by the site's name; categories and carriers in the reader's language
        headings = await boxes.locator("h2").all_inner_texts()
        assert headings == [f"{names[i]} · {year}" for i in want], headings
        first = boxes.first
        assert HEADING[lang] in await first.locator("th").first.inner_text()
        scope2 = first.locator("tr", has_text="kWh")  # its Scope 2 electricity line
        assert await scope2.locator("td").nth(1).inner_text() == ELECTRICITY[lang]
        methods = await first.locator("p.muted").inner_text()
        assert not methods.rstrip().endswith(","), methods
        # the school's retired R-22 split leaked 0.6 kg: an HCFC, reported beside the scopes
        school = next(i for i in sites["items"] if i["id"] == "rt-school")
        apart = round(school["reported_apart"]["non_kyoto_co2e"])
        assert apart > 0, school["reported_apart"]
        shown = await page.locator('#inventories article[data-id="rt-school"] p.apart').inner_text()
        assert f"{apart:,}" in shown and APART[lang] in shown, shown
        await check_language(page, lang)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / f"inventory-{lang}.png"), full_page=True)

        await page.select_option("#level", "district")
        by_district = [item["id"] for item in districts["items"]]
        await page.wait_for_function(
            "(ids) => [...document.querySelectorAll('#inventories article')]"
            ".map(b => b.dataset.id).join() === ids.join()",
            arg=by_district,
            timeout=15_000,
        )
