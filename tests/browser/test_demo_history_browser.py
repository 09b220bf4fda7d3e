"""The demo with its history (issue 20), started once for the module as a new user starts
it: `peakline demo --history-days 2` (embedded broker, SQLite store; firmware-sim on a stepped
clock -> edge agents -> broker -> ingest -> deriver -> API). Once the history is derived:

1. The dashboard, opened as a new user opens it, in English and in Simplified Chinese:

   - the overview: power, energy and emissions today and the grid intensity for every site of
     the example district, figures on every city card, and the trajectory chart drawn;
   - a site page (the office): 24 h of power asked for and drawn, the grid-intensity chart
     filled from the simulated grid signal, 30 daily bars with the history's days filled, an
     anomaly from the history listed, and the history's demand-response event with the load it
     shed (its commands applied by the edge and restored);
   - the retrofit site (the library): the works' measured savings from the M&V model over the
     year imported before the history, and the same figure counted on the programme page;
   - on every page no untranslated message (checked against the catalogue).

   Screenshots: artifacts/history-<page>-<lang>.png.

2. The backfill's path: every site's energy on every day of the history (the first, partial
   one included) from the API, the readings' simulated past timestamps, the history scored,
   the simulated grid signals stored and the hourly emissions computed from them (SQLite,
   read once the demo has stopped: Ctrl-C, exit 0 after data flowed end to end).

Two simulated days keep it quick; the demo's own default is seven. `--no-history` and a
reused --state-dir are tests/integration/demo/test_demo_history.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio
import yaml

from peakline_testing.servers import free_port
from peakline_testing.waiting import eventually
from tests.browser.browser_support import (
    ARTIFACTS,
    LANGUAGES,
    RunningDemo,
    check_language,
    chromium,
    demo_process,
    signed_in,
)

# The module's demo (a 2-day backfill) starts inside the first test's time: 600 s, not 300.
pytestmark = [
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.slow,
    pytest.mark.timeout(600),
]

DAYS = 2
DERIVED_TIMEOUT_S = 300.0


async def history_derived(demo: Any, timeout_s: float) -> None:
    """Until the demo's status line says the history is derived (its own output is the clock)."""
    deadline = time.monotonic() + timeout_s
    while not any("history=derived" in line for line in demo.lines):
        if time.monotonic() > deadline or demo.proc.returncode is not None:
            raise AssertionError(f"the history was not derived:\n{demo.output()}")
        await asyncio.sleep(1)  # the demo's status line repeats every few seconds


def minutes_into_local_day(zone: str) -> float:
    now = datetime.now(ZoneInfo(zone))
    return now.hour * 60 + now.minute + now.second / 60


async def numbers(page: Any, selector: str) -> list[float]:
    return [float(v) for v in await page.locator(selector).evaluate_all(
        "els => els.map(e => e.dataset.value ?? 'nan')"
    )]  # fmt: skip


@dataclass(frozen=True)
class HistoryDemo:
    """The module's demo, started with its history and left running once it is derived."""

    demo: RunningDemo
    began: float
    """When the demo was started (UTC seconds)."""
    backfill_s: float
    """How long the history took to be stored and derived (s)."""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.demo.api_key}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def history(
    tmp_path_factory: pytest.TempPathFactory, repo_root: Path
) -> AsyncIterator[HistoryDemo]:
    # A generous budget: these tests are about the path, not the shortening (unit-tested),
    # and the shared test machine may be busy.
    extra = ("--history-days", str(DAYS), "--history-budget", "120")
    state = tmp_path_factory.mktemp("history") / "state"
    began = time.time()
    async with demo_process(repo_root, free_port(), state, extra=extra) as demo:
        await history_derived(demo, DERIVED_TIMEOUT_S)
        yield HistoryDemo(demo, began, time.time() - began)


def sites_of(repo_root: Path) -> set[str]:
    """Every site of the example district (each has a simulated meter in the demo)."""
    listed = yaml.safe_load((repo_root / "config/sites.yaml").read_text())["sites"]
    return {s["id"] for s in listed}


async def test_dashboard_with_history_in_both_languages(
    history: HistoryDemo, repo_root: Path
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    listed = yaml.safe_load((repo_root / "config/sites.yaml").read_text())["sites"]
    sites = {s["id"] for s in listed}
    cities = {s["city"] for s in listed}
    zones = {s["id"]: s.get("timezone", "UTC") for s in listed}
    demo = history.demo
    started = datetime.fromtimestamp(history.began, UTC)
    async with httpx.AsyncClient(base_url=demo.url, headers=history.headers, timeout=30) as http:
        power = (
            await http.get(
                "/api/v1/series",
                params={"device": "office-meter", "point": "power_total", "start": "-24h"},
            )
        ).json()
        grid = (await http.get("/api/v1/carbon-intensity/series", params={
            "region": "CN-EAST", "start": "-1d"})).json()  # fmt: skip

        async def retrofit_measured() -> bool:
            # the demo imports the library's year once the dashboard is populated
            listed = (await http.get("/api/v1/retrofits")).json()
            if not listed:
                return False
            report = await http.get(f"/api/v1/retrofits/{listed[0]['id']}/savings")
            return report.status_code == 200 and report.json()["baseline"]["days_used"] > 300

        await eventually(retrofit_measured, 120, "the retrofit's year imported", every_s=1)
    # What the site page's charts draw: a day of power, a day of the grid signal.
    times = [t for s in power["series"] for t in s["t_ms"]]
    assert (max(times) - min(times)) / 3.6e6 > 20, "less than 20 h of power in the last day"
    ci = [v for s in grid["series"] for v in s["values"] if v is not None]
    assert len(ci) >= 20 and all(300 < v < 800 for v in ci), ci

    async with chromium() as browser:
        for lang in LANGUAGES:
            async with signed_in(browser, demo.url, demo.api_key, lang) as page:
                requested: list[str] = []
                page.on("request", lambda r, seen=requested: seen.append(r.url))
                # -- overview
                await page.goto(demo.url + "/dashboard/")
                await page.locator("#cities .card .track-chart canvas").first.wait_for(
                    timeout=30_000
                )
                await page.locator("#sites-table tbody tr[data-site]").first.wait_for()
                shown = set(await page.locator("#sites-table tbody tr").evaluate_all(
                    "rows => rows.map(r => r.dataset.site)"))  # fmt: skip
                assert shown == sites, shown
                # power is signed (the PV farm exports by day); today's import and its
                # emissions are above 0 everywhere (the farm's auxiliaries draw at night),
                # except where the local day began minutes ago: nothing of it is final yet,
                # and the page says "pending" (the deriver waits out the allowed lateness)
                order = await page.locator("#sites-table tbody tr").evaluate_all(
                    "rows => rows.map(r => r.dataset.site)"
                )
                fresh = {site for site in order if minutes_into_local_day(zones[site]) < 15}
                for cls in ("power", "energy", "emissions"):
                    values = await numbers(page, f"#sites-table td.{cls}")
                    assert len(values) == len(sites), (cls, values)
                    assert all(
                        math.isfinite(v) and (v != 0 if cls == "power" else v > 0)
                        for site, v in zip(order, values, strict=True)
                        if cls == "power" or site not in fresh
                    ), (cls, values, fresh)
                for site in fresh:
                    cell = page.locator(f'tr[data-site="{site}"] td.energy')
                    assert await cell.get_attribute("data-value") is not None or (
                        "pending" in await cell.get_attribute("class")
                    ), site
                cards = await page.locator("#cities .card").all_inner_texts()
                assert len(cards) == len(cities)
                assert all("kWh" in c or "千瓦时" in c for c in cards)
                await check_language(page, lang)
                await page.screenshot(
                    path=str(ARTIFACTS / f"history-overview-{lang}.png"), full_page=True
                )
                # -- a site
                await page.goto(demo.url + "/dashboard/site.html?site=rt-office")
                await page.locator("#power-chart canvas").wait_for(timeout=30_000)
                await page.locator("#ci-chart canvas").wait_for(timeout=30_000)
                days = page.locator("#daily-energy .day")
                await days.first.wait_for(timeout=30_000)
                assert await days.count() == 30
                filled = await page.locator("#daily-energy .day:not(.empty)").count()
                assert filled >= DAYS, filled
                assert any("power_total" in u and "start=-24h" in u for u in requested)
                assert any("/carbon-intensity/series" in u for u in requested)
                await page.locator("#anomalies li[data-start]").first.wait_for(timeout=30_000)
                starts = await page.locator("#anomalies li[data-start]").evaluate_all(
                    "els => els.map(e => e.dataset.start)"
                )
                past = [s for s in starts if datetime.fromisoformat(s) < started]
                assert past, f"no anomaly from the history listed: {starts}"
                # the history's demand-response event, run through the command path on
                # the simulator's clock and verified from the stored meter readings
                shed = page.locator("#dr-list .dr-event p.figure")
                await shed.wait_for(timeout=30_000)
                shed_kwh = float(await shed.get_attribute("data-shed-kwh") or "nan")
                assert math.isfinite(shed_kwh) and shed_kwh > 0, shed_kwh
                edge = page.locator("#dr-list .dr-event p.commands")
                total = int(await edge.get_attribute("data-total") or "0")
                assert total > 0 and await edge.get_attribute("data-done") == str(total)
                await check_language(page, lang)
                await page.screenshot(
                    path=str(ARTIFACTS / f"history-site-{lang}.png"), full_page=True
                )
                # -- the retrofit site: a year imported before the history, the works
                # in the simulator's physics, the savings from the M&V model
                await page.goto(demo.url + "/dashboard/site.html?site=rt-library")
                figure = page.locator("#retrofit-list .retrofit p.figure")
                await figure.wait_for(timeout=60_000)
                avoided = float(await figure.get_attribute("data-avoided-kwh") or "nan")
                assert math.isfinite(avoided) and avoided > 0, avoided
                card = await page.locator("#retrofit-list .retrofit").inner_text()
                assert "kWh" in card or "千瓦时" in card, card
                fitted = page.locator("#retrofit-list .retrofit p.baseline")
                assert int(await fitted.get_attribute("data-days") or "0") >= 360, card
                await check_language(page, lang)
                await page.screenshot(
                    path=str(ARTIFACTS / f"history-retrofit-{lang}.png"), full_page=True
                )
                # -- the programme: the retrofit's savings counted for its city
                await page.goto(demo.url + "/dashboard/programme.html")
                await page.locator("#benchmark-table tbody tr").nth(1).wait_for(timeout=30_000)
                counted = page.locator(
                    "#benchmark-table tbody tr[data-id=riverton] td.retrofits:not(.empty)"
                )
                assert float(await counted.get_attribute("data-value") or "nan") == (
                    pytest.approx(avoided)
                )
                assert "±" in await counted.inner_text()
                await check_language(page, lang)
                await page.screenshot(
                    path=str(ARTIFACTS / f"history-programme-{lang}.png"), full_page=True
                )


async def test_demo_backfills_history_through_the_real_path(
    history: HistoryDemo, repo_root: Path
) -> None:
    """The backfill's path: the history's readings and derived rows in the store and the API,
    from the first (partial) day on. Stops the demo (Ctrl-C), which must exit 0."""
    demo, began = history.demo, history.began
    simulated_sites = sites_of(repo_root)
    async with httpx.AsyncClient(base_url=demo.url, headers=history.headers, timeout=30) as api:
        resp = await api.get(
            "/api/v1/energy", params={"resolution": "1d", "start": f"-{DAYS + 1}d"}
        )
        assert resp.status_code == 200, resp.text
        daily: dict[str, dict[int, float]] = {}
        for s in resp.json()["series"]:
            per_day = daily.setdefault(s["site"], {})
            for t_ms, kwh in zip(s["t_ms"], s["kwh"], strict=True):
                per_day[t_ms] = per_day.get(t_ms, 0.0) + (kwh or 0.0)
        report = await api.get(
            "/api/v1/reports/emissions", params={"level": "site", "start": f"-{DAYS}d"}
        )
        assert report.status_code == 200, report.text
        cities = await api.get("/api/v1/overview/cities")
        assert cities.status_code == 200, cities.text
    assert await demo.stop() == 0, demo.output()
    assert "data flowed end to end" in "".join(demo.lines)
    # Every simulated site has energy on every UTC day the history covers, including the
    # first (partial) day, which only the backfill can have filled.
    first_day = (datetime.now(UTC) - timedelta(days=DAYS)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    days_ms = [int((first_day + timedelta(days=i)).timestamp() * 1000) for i in range(DAYS + 1)]
    assert set(daily) >= simulated_sites, daily.keys()
    for site in simulated_sites:
        for day in days_ms:
            assert daily[site].get(day, 0.0) > 0, (site, day, daily[site])
    rows = {row["id"]: row for row in report.json()["items"]}
    for site in simulated_sites:
        assert sum(rows[site]["energy_kwh"].values()) > 0, rows[site]
    # The readings carry simulated timestamps in the past, stamped by the edge agents.
    with contextlib.closing(sqlite3.connect(demo.state_dir / "store.db")) as db:
        # a meter's: the retrofit site's weather for the year before the history is older
        (oldest,) = db.execute(
            "SELECT min(ts) FROM samples JOIN series ON series.id = samples.series_id"
            " WHERE measurement = 'reading'"
            " AND json_extract(series.tags, '$.device') = 'office-meter'"
        ).fetchone()
        (scored,) = db.execute(
            "SELECT count(*) FROM samples JOIN series ON series.id = samples.series_id"
            " WHERE measurement = 'anomaly_score' AND ts < ?",
            (int((began - 86_400) * 1e9),),
        ).fetchone()
        # The simulated grid signals reached the store through the broker and ingest, and
        # the hourly location-based emissions of each region's sites were computed from them.
        hourly_sites = {
            site
            for (site,) in db.execute(
                "SELECT DISTINCT json_extract(series.tags, '$.site') FROM samples JOIN series"
                " ON series.id = samples.series_id WHERE measurement = 'emissions'"
                " AND field = 'basis' AND v LIKE 'grid-hourly:%'"
            )
        }
        regions = dict(
            db.execute(
                "SELECT json_extract(series.tags, '$.region'), count(*) FROM samples JOIN"
                " series ON series.id = samples.series_id"
                " WHERE measurement = 'carbon_intensity' GROUP BY 1"
            ).fetchall()
        )
    assert oldest <= (began - DAYS * 86_400 + 600) * 1e9
    assert scored > 0  # the deriver scored the history, not only the live readings
    hours = DAYS * 24
    assert regions.get("CN-EAST", 0) >= hours and regions.get("US-NEWE", 0) >= hours, regions
    assert hourly_sites == simulated_sites, hourly_sites
    # The overview's verdict: Riverton has no last year, so its office (the one site with its
    # own target) is judged pro rata, when the history covers the period's days from their
    # first hour; otherwise the card says why there is no verdict.
    riverton = {c["id"]: c for c in cities.json()}["riverton"]
    period_start = datetime.fromisoformat(riverton["period_start"].replace("Z", "+00:00"))
    if oldest <= period_start.timestamp() * 1e9:
        # year on year when the library's imported year (the retrofit site) reaches back to
        # the period's first day last year, else the office against its own target
        assert (riverton["basis"], riverton["compared_sites"]) in (
            ("site_targets", ["rt-office"]),
            ("year_on_year", ["rt-library"]),
        ), riverton
        assert riverton["on_track"] is not None
        assert len(riverton["chart"]["allowed_kgco2e"]) == riverton["days"]
    else:
        assert riverton["on_track"] is None and riverton["reason"] == "no_baseline", riverton
    assert riverton["emissions_kgco2e"] > 0 and riverton["top_sites"], riverton
    print(f"backfill of {DAYS} simulated days stored and derived in {history.backfill_s:.1f} s")
