"""The programme benchmark page in headless Chromium against the real API under uvicorn on the
SQLite store (seeded with 48 h of energy): both cities are compared with figures equal to the
API's, and the CSV download carries the same rows. Screenshot: artifacts/programme.png."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import httpx
import pytest

from tests.integration.api.api_live_support import build, example_config, serve

pytestmark = pytest.mark.asyncio

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run"]  # fmt: skip


async def test_programme_page_compares_cities_and_exports_csv(
    tmp_path: Path, repo_root: Path
) -> None:
    from playwright.async_api import async_playwright

    config = example_config(repo_root / "config")
    app, tokens = await build(tmp_path, config, f"sqlite:///{tmp_path / 'store.db'}", now_ns=None)
    token = tokens["viewer_all"]
    ARTIFACTS.mkdir(exist_ok=True)
    async with serve(app) as url, async_playwright() as pw:
        async with httpx.AsyncClient(base_url=url) as http:
            r = await http.get(
                "/api/v1/programme/benchmark?level=city&start=-30d",
                headers={"Authorization": f"Bearer {token}"},
            )
        expected = {it["id"]: it for it in r.json()["items"]}
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(url + "/dashboard/programme.html")
            await page.fill("#key-input", token)
            await page.click("#key-form button")
            rows = page.locator("#benchmark-table tbody tr")
            await rows.nth(1).wait_for(timeout=15_000)
            ids = await rows.evaluate_all("rs => rs.map(r => r.dataset.id)")
            assert set(ids) == set(expected) == {c.id for c in config.programme.cities}
            for city, it in expected.items():
                shown = await page.locator(f'tr[data-id="{city}"] td.emissions').inner_text()
                # Shown in the page's locale (en: "2,166"), to the nearest kg.
                assert float(shown.replace(",", "")) == pytest.approx(
                    round(it["emissions_kgco2e"]), abs=0.5
                )
                assert it["emissions_kgco2e"] > 0
                # beside it, what the overview shows (the stored rows), in its own column
                reported = await page.locator(f'tr[data-id="{city}"] td.reported').inner_text()
                assert it["reported_kgco2e"] is not None
                assert float(reported.replace(",", "")) == pytest.approx(
                    round(it["reported_kgco2e"]), abs=0.5
                )
            air = page.locator("#air-table tbody tr")
            await air.first.wait_for(timeout=15_000)
            districts = await air.evaluate_all("rs => rs.map(r => r.dataset.id)")
            assert set(districts) == {d.id for d in config.programme.districts}
            # the City column names the city, as the overview does (not its id)
            city_name = {c.id: c.name for c in config.programme.cities}
            for d in config.programme.districts:
                cell = page.locator(f'#air-table tr[data-id="{d.id}"] td').nth(1)
                assert await cell.inner_text() == city_name[d.city]
            await page.screenshot(path=str(ARTIFACTS / "programme.png"), full_page=True)
            async with page.expect_download() as info:
                await page.click("#csv")
            download = await info.value
            saved = tmp_path / "benchmark.csv"
            await download.save_as(saved)
            text = saved.read_text()
            got = {row["id"]: row for row in csv.DictReader(io.StringIO(text))}
            assert set(got) == set(expected)
            for city, it in expected.items():
                assert float(got[city]["emissions_kgco2e"]) == pytest.approx(it["emissions_kgco2e"])
            assert not errors, errors
        finally:
            await browser.close()
