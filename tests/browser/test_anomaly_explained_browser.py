"""An incident a command explains on the site page (issue 18), in headless Chromium against the
real API under uvicorn on the SQLite store: the office HVAC's heating power fell because the
platform lowered its setpoint (a demand-response event). The page lists it dimmed, says which
command explains it in the reader's language, says truly what was expected and seen, and
offers no verdict buttons (it is no alarm); the seeded ordinary event keeps them. The figures
of a why line carry the decimals that tell them apart, and a drift whose peak reading a single
reading could take says it ran high or low for a while. Screenshots:
test-artifacts/anomalies/explained-<lang>.png."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from peakline_core.storage import Row
from peakline_core.storage.schema import ANOMALY_EVENT
from peakline_store.open import open_store
from tests.browser.browser_support import chromium, signed_in
from tests.integration.api.api_live_support import build, example_config, serve

pytestmark = pytest.mark.asyncio

S = 1_000_000_000
WANT = {
    "en": (
        "after a command: setpoint 21.0 → 19.0 °C at ",
        "expected between 136,174 and 178,299",
    ),
    "zh-CN": ("指令所致：设定温度 21.0 → 19.0 °C（", "预期在 136,174 至 178,299 W 之间"),
}


WATER = {
    "en": "expected to advance at 0.021 to 0.029 m3/h, it advanced at 0.019 m3/h",
    "zh-CN": "预期增速 0.021 至 0.029 m3/h，实际增速 0.019 m3/h",
}


DRIFT = {
    "en": "frequency has run above its usual level for a while: a single reading may be 49.90 "
    "to 50.10 Hz; at the peak it read 50.08 Hz",
    "zh-CN": "frequency 一段时间以来持续高于常态：单个读数可在 49.90 至 50.10 Hz 之间，"
    "峰值时读数 50.08 Hz",
}


def closed_drift(device: str, point: str, band: tuple[float, float, float], at: int) -> Row:
    """A closed drift event of the office's `device` at `at`, its band and peak reading
    (expected low, expected high, seen)."""
    low, high, seen = band
    return Row(
        ANOMALY_EVENT,
        {"site": "rt-office", "device": device, "point": point, "kind": "drift"},
        {"event_id": f"ev-{device}", "state": "closed", "end": at + 780 * S, "peak_score": 0.6,
         "points": point, "expected_low": low, "expected_high": high, "seen": seen},
        at,
    )  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_an_explained_incident_is_dimmed_and_says_which_command(
    tmp_path: Path, repo_root: Path, lang: str
) -> None:
    config = example_config(repo_root / "config")
    url_db = f"sqlite:///{tmp_path / 'store.db'}"
    app, tokens = await build(tmp_path, config, url_db, now_ns=None)
    start = time.time_ns() - 1800 * S
    store = open_store(url_db)
    try:
        await store.write([Row(
            ANOMALY_EVENT,
            {"site": "rt-office", "device": "office-hvac", "point": "heating_power",
             "kind": "spike"},
            {"event_id": "ev-dr", "state": "open", "end": 0, "peak_score": 0.99,
             "points": "heating_power", "cause_ns": start - 300 * S, "cause_point": "setpoint",
             "cause_from": 21.0, "cause_to": 19.0, "expected_low": 136_174.27,
             "expected_high": 178_298.51, "seen": 11_040.0},
            start,
        ), Row(
            ANOMALY_EVENT,
            {"site": "rt-office", "device": "office-hvac", "point": "supply_temp",
             "kind": "flatline"},
            {"event_id": "ev-flat", "state": "open", "end": 0, "peak_score": 0.8,
             "points": "supply_temp", "expected_low": 6.4, "expected_high": 33.4,
             "seen": 16.0},
            start + 60 * S,
        ),
            closed_drift("office-dc-water", "total", (0.0213, 0.0287, 0.0194), start + 120 * S),
            closed_drift("office-meter", "frequency", (49.9, 50.1, 50.08), start + 180 * S),
        ])  # fmt: skip
    finally:
        await store.aclose()
    async with (
        serve(app) as url,
        chromium() as browser,
        signed_in(browser, url, tokens["operator_rt"], lang) as page,
    ):
        await page.goto(f"{url}/dashboard/site.html?site=rt-office")
        item = page.locator('#anomalies li[data-explained="true"]')
        await item.wait_for(timeout=15_000)
        shown = await item.inner_text()
        cause, why = WANT[lang]
        assert cause in shown and why in shown, shown
        assert await item.evaluate("li => getComputedStyle(li).opacity") == "0.6"
        assert await item.locator("button").count() == 0
        ordinary = page.locator('#anomalies li[data-explained=""]')
        assert await ordinary.count() >= 1
        assert await ordinary.first.locator("button").count() == 2
        # units as people write them: "16.0 °C", not the profile's "degC"
        flat = page.locator('#anomalies li[data-kind="flatline"]')
        shown = await flat.inner_text()
        assert "16.0 °C" in shown and "33.4 °C" in shown and "degC" not in shown, shown
        # small figures with the decimals that tell them apart (not "0.02 to 0.03 ... 0.02")
        water = await page.locator('#anomalies li[data-device="office-dc-water"]').inner_text()
        assert WATER[lang] in water, water
        # a drift whose peak reading lies within a single reading's range says it ran high
        item = page.locator('#anomalies li[data-kind="drift"][data-device="office-meter"]')
        drift = await item.inner_text()
        assert DRIFT[lang] in drift, drift
        shots = repo_root / "test-artifacts" / "anomalies"
        shots.mkdir(parents=True, exist_ok=True)
        await page.locator("#anomalies").screenshot(path=str(shots / f"explained-{lang}.png"))
