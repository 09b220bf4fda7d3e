"""The dashboard in zh-CN and en (issue #20), in headless Chromium against the real API under
uvicorn on the SQLite store: one seeded with two hours of readings and 48 h of energy, one
empty (a programme's first hour).

Each page (overview, a site, the programme) is loaded with the browser's language set to
zh-CN and to en: `<html lang>` follows it, every element naming a message (data-i18n) shows
that language's string, and in zh-CN no visible text is an English catalogue message. The
switch on the page changes the language and is remembered. The empty store shows why a figure
is missing instead of a dash or an "on track" verdict. Screenshots of every page in both
languages: test-artifacts/i18n/<page>-<lang>.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.browser_support import CATALOGUES, LANGUAGES, check_language, chromium, signed_in
from tests.integration.api.api_live_support import build, example_config, serve

pytestmark = pytest.mark.asyncio


async def overview(page: Any, url: str) -> None:
    await page.goto(url + "/dashboard/")
    await page.locator("#sites-table tbody tr").first.wait_for(timeout=15_000)
    await page.locator("#cities .card").first.wait_for(timeout=15_000)
    await page.wait_for_function("document.getElementById('updated').textContent !== ''")


async def site(page: Any, url: str, site_id: str) -> None:
    await page.goto(f"{url}/dashboard/site.html?site={site_id}")
    await page.locator("#devices-table tbody tr").first.wait_for(timeout=15_000)
    await page.locator("#emissions > *").first.wait_for(timeout=15_000)
    await page.locator("#anomalies li").first.wait_for(timeout=15_000)
    await page.locator("#power-chart canvas").wait_for(timeout=15_000)
    await page.locator("#ci-chart canvas").wait_for(timeout=15_000)
    # Day bars, or the page's sentence saying there are none.
    await page.locator("#daily-energy > *").first.wait_for(timeout=15_000)
    await page.locator("#daily-emissions > *").first.wait_for(timeout=15_000)


async def programme(page: Any, url: str) -> None:
    await page.goto(url + "/dashboard/programme.html")
    await page.locator("#benchmark-table tbody tr").nth(1).wait_for(timeout=15_000)
    await page.locator("#air-table tbody tr").first.wait_for(timeout=15_000)
    await page.wait_for_function("document.getElementById('definitions').textContent !== ''")


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_every_page_in_the_browsers_language(
    tmp_path: Path, repo_root: Path, lang: str
) -> None:
    shots = repo_root / "test-artifacts" / "i18n"
    shots.mkdir(parents=True, exist_ok=True)
    config = example_config(repo_root / "config")
    app, tokens = await build(tmp_path, config, f"sqlite:///{tmp_path / 'store.db'}", now_ns=None)
    async with (
        serve(app) as url,
        chromium() as browser,
        signed_in(browser, url, tokens["operator_rt"], lang) as page,
    ):
        await overview(page, url)
        await check_language(page, lang)
        await page.screenshot(path=str(shots / f"overview-{lang}.png"), full_page=True)

        await site(page, url, "rt-school")
        await check_language(page, lang)
        # Bars to one scale: none wider than the track, and the scale is written under them.
        widths = await page.locator("#emissions .bar").evaluate_all(
            "bs => bs.map(b => parseFloat(b.style.width))"
        )
        assert widths and all(0 <= w <= 100 for w in widths), widths
        assert await page.locator("#daily-energy .day").count() > 0
        assert await page.locator("#daily-emissions .day").count() > 0
        await page.screenshot(path=str(shots / f"site-{lang}.png"), full_page=True)

        await page.goto(url + "/dashboard/programme.html")
        await page.fill("#key-input", tokens["viewer_all"])
        await page.click("#key-form button")
        await programme(page, url)
        await check_language(page, lang)
        await page.screenshot(path=str(shots / f"programme-{lang}.png"), full_page=True)

        # A problem from the API is titled in the page's language; its type is unchanged.
        await page.goto(url + "/dashboard/site.html?site=no-such-site")
        error = page.locator("#error")
        await error.wait_for(timeout=15_000)
        title = {"en": "No such resource", "zh-CN": "资源不存在"}[lang]
        assert title in await error.inner_text()


async def test_switch_changes_the_language_and_is_remembered(
    tmp_path: Path, repo_root: Path
) -> None:
    config = example_config(repo_root / "config")
    app, tokens = await build(tmp_path, config, f"sqlite:///{tmp_path / 'store.db'}", now_ns=None)
    async with (
        serve(app) as url,
        chromium() as browser,
        signed_in(browser, url, tokens["viewer_all"], "en-US") as page,
    ):
        await overview(page, url)
        await check_language(page, "en")
        async with page.expect_navigation():
            await page.select_option("#lang", "zh-CN")
        await overview(page, url)
        await check_language(page, "zh-CN")
        # Remembered: another page, and a new tab of the same browser profile.
        await programme(page, url)
        await check_language(page, "zh-CN")
        other = await page.context.new_page()
        await overview(other, url)
        await check_language(other, "zh-CN")
        async with other.expect_navigation():
            await other.select_option("#lang", "en")
        await overview(other, url)
        await check_language(other, "en")


async def test_empty_programme_says_why_in_both_languages(tmp_path: Path, repo_root: Path) -> None:
    """No readings at all: no verdict, no dash, and the reason in the page's language."""
    shots = repo_root / "test-artifacts" / "i18n"
    shots.mkdir(parents=True, exist_ok=True)
    config = example_config(repo_root / "config")
    app, tokens = await build(
        tmp_path, config, f"sqlite:///{tmp_path / 'store.db'}", seed=False, now_ns=None
    )
    async with serve(app) as url, chromium() as browser:
        for lang in LANGUAGES:
            cat = CATALOGUES[lang]
            async with signed_in(browser, url, tokens["viewer_all"], lang) as page:
                await overview(page, url)
                power = await page.locator("#sites-table td.power").all_inner_texts()
                assert power and set(power) == {cat["empty.no_meter_data"]}, power
                await page.screenshot(
                    path=str(shots / f"overview-empty-{lang}.png"), full_page=True
                )

                await programme(page, url)
                await check_language(page, lang)
                trajectories = await page.locator(
                    "#benchmark-table td.trajectory"
                ).all_inner_texts()
                assert set(trajectories) <= {
                    cat["empty.no_meter_data_period"],
                    cat["empty.no_target"],
                }
                body = await page.locator("body").inner_text()
                assert "–" not in body.replace(" – ", "")  # only the period's range dash
                assert "on track" not in body and "over cap" not in body
                await page.screenshot(
                    path=str(shots / f"programme-empty-{lang}.png"), full_page=True
                )

                await site(page, url, "rt-school")
                await check_language(page, lang)
                emissions = await page.locator("#emissions").inner_text()
                assert emissions.startswith(cat["empty.no_emissions_since"].split("{")[0].strip())
                assert await page.locator("#emissions .bar").count() == 0
                daily = await page.locator("#daily-energy").inner_text()
                assert daily.strip() == cat["site.daily_none"], daily
                await page.screenshot(path=str(shots / f"site-empty-{lang}.png"), full_page=True)
