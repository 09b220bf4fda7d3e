"""The dashboard and the anomaly detector in headless Chromium against one real demo stack,
started as a user does: `peakline demo --port P --no-history` (embedded broker, SQLite store;
firmware-sim -> edge agent -> broker -> ingest -> deriver -> store -> API). Nothing stands in
for any component. The demo runs once for the module (its two faults and its spike happen
once, in real time, from its start); the tests run in this order on it.

1. The demo's two injected faults are found within 60 s of their start, each as one event
   for its device (issue 18):

   - a 30 s x5 spike on every register of `office-meter` (45 s after the scenario starts);
   - a 40 s dropout of `school-pv` (20 s in): nothing is read, so it can only be found as
     expected readings missing.

   When each fault started is measured from what the stack stored, not assumed: the spike at
   the first stored `power_total` above twice the median, the dropout at the last stored
   `ac_power` reading before the hole (earlier than the first missed poll, so the figure is an
   upper bound). An event counts as found when `/api/v1/anomalies` first lists it (asked
   again on each message of the API's live stream, under a deadline, watched from the demo's
   start). Then the site pages' anomaly lists show one item per device with the points
   involved and why. Figures are printed; screenshots: artifacts/demo-fault-office.png,
   demo-fault-school.png.

2. The overview lists every site the demo simulates with non-zero power; a site chart draws;
   a setpoint sent from the site page's command form goes through the real edge agent to
   firmware-sim's HVAC controller and comes back `applied` with the read-back value. Then,
   once the office spike is well past: the office's derived 1-minute energy equals the
   integral of its stored power within 2 % (the spike's samples, 5x the median, interpolated
   over, as an energy manager would), the spike's windows are marked suspect, and the
   overview page shows the office's energy today as the sum of those windows. Screenshots:
   artifacts/demo-overview.png, demo-site.png, demo-command.png, demo-energy.png.

3. The demo is stopped with SIGINT and must exit 0 having seen data flow end to end.

Each test also passes alone (the fixture starts the demo; the faults test must then be the
first to use it, as it is in file order).

--no-history: these checks time the live faults and the spike from the demo's start and
compare the counter's energy with the integral of 5-second power; the history's 14-minute
samples would not support that comparison (tests/integration/demo/test_demo_history.py), and
with the week of history before it the PV dropout was once listed as two events (issue 18).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import pytest_asyncio
import yaml

from peakline_testing.servers import free_port
from tests.browser.browser_support import (
    ARTIFACTS,
    RunningDemo,
    browser_page,
    check_energy_cells,
    demo_process,
)

# The module's one demo starts inside the first test's time: 600 s, not 300.
pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(600)]

READY_TIMEOUT_S = 45.0
SPIKE_OVER_S = 45 + 30 + 60 + 10
"""The demo's office spike starts 45 s in and lasts 30 s; its last window closes a window
length plus the deriver's lateness later (and the deriver writes closed windows only)."""
WINDOWS_TIMEOUT_S = 120.0
"""How long past SPIKE_OVER_S the spike's windows may take to be derived on a loaded machine."""
SCENARIO = "config/scenarios/district-small.yaml"  # the demo's default scenario
FOUND_WITHIN_S = 60.0
WATCH_S = 45 + 30 + 60
"""Watch until the spike (45 s in, 30 s long) is a minute over: any second event the fault
raised (a counter falling back when it ends) would be listed by then."""
FAULTY = {"office-meter": "rt-office", "school-pv": "rt-school"}


@dataclass(frozen=True)
class DemoStack:
    """The module's demo and when it was started (monotonic seconds)."""

    demo: RunningDemo
    started: float

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.demo.api_key}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    tmp_path_factory: pytest.TempPathFactory, repo_root: Path
) -> AsyncIterator[DemoStack]:
    ARTIFACTS.mkdir(exist_ok=True)
    state = tmp_path_factory.mktemp("demo") / "state"
    started = time.monotonic()
    async with demo_process(repo_root, free_port(), state, extra=("--no-history",)) as demo:
        yield DemoStack(demo, started)


def _iso(t_ms: float) -> str:
    return datetime.fromtimestamp(t_ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def _ms(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000


# -- 1. the faults found ------------------------------------------------------------------


async def stored_series(http: httpx.AsyncClient, device: str, point: str) -> tuple[Any, Any]:
    got = await http.get(
        "/api/v1/series", params={"device": device, "point": point, "start": "-1h"}
    )
    [series] = got.raise_for_status().json()["series"]
    return np.asarray(series["t_ms"], np.float64), np.asarray(series["values"], np.float64)


async def spike_start_ms(http: httpx.AsyncClient) -> float | None:
    t, w = await stored_series(http, "office-meter", "power_total")
    high = np.flatnonzero(w > 2 * np.median(w)) if len(w) else []
    return float(t[high[0]]) if len(high) else None


async def dropout_start_ms(http: httpx.AsyncClient) -> float | None:
    """The last reading before the longest hole of more than 3 poll intervals, if any."""
    t, _ = await stored_series(http, "school-pv", "ac_power")
    if len(t) < 3:
        return None
    dt = np.diff(t)
    i = int(np.argmax(dt))
    return float(t[i]) if dt[i] > 3 * np.median(dt) else None


async def watch(http: httpx.AsyncClient, until: float) -> dict[str, dict[str, Any]]:
    """Every event of the run by id, with the wall time (ms) the API first listed it."""
    seen: dict[str, dict[str, Any]] = {}

    async def poll() -> None:
        got = await http.get("/api/v1/anomalies", params={"start": "-1h", "limit": 500})
        now_ms = time.time() * 1000
        for e in got.raise_for_status().json()["items"]:
            seen.setdefault(e["event_id"], {"found_ms": now_ms}).update(e)

    try:
        async with (
            asyncio.timeout(max(0.0, until - time.monotonic())),
            http.stream("GET", "/api/v1/stream", timeout=None) as events,
        ):
            events.raise_for_status()
            async for line in events.aiter_lines():
                if line.startswith("data:") or line.startswith(":"):
                    await poll()
    except TimeoutError:
        pass
    await poll()
    return seen


async def test_demo_faults_are_found_within_a_minute_as_one_event_per_device(
    stack: DemoStack,
) -> None:
    demo, started = stack.demo, stack.started
    async with httpx.AsyncClient(base_url=demo.url, headers=stack.headers, timeout=10) as http:
        events = await watch(http, started + WATCH_S + 20)
        fault_ms = {
            "office-meter": await spike_start_ms(http),
            "school-pv": await dropout_start_ms(http),
        }
        meter_points = (await http.get("/api/v1/devices/office-meter")).json()["points"]
        units = {p["name"]: (p["unit"], p["counter"]) for p in meter_points}
    assert all(v is not None for v in fault_ms.values()), (fault_ms, demo.output())
    report = []
    for device in FAULTY:
        start = fault_ms[device]
        assert start is not None
        mine = [e for e in events.values() if e["device"] == device]
        # one incident: the fault's events all joined one event for the device
        during = [e for e in mine if _ms(e["start"]) >= start - 15_000]
        assert len(during) == 1, (device, mine)
        [event] = during
        delay_s = (event["found_ms"] - start) / 1000
        report.append(
            f"{device}: {event['kind']} on {len(event['points'])} points, listed "
            f"{delay_s:.1f} s after the fault started ({_iso(start)})"
        )
        assert delay_s <= FOUND_WITHIN_S, report
        assert len(event["points"]) > 1, event
    office = next(e for e in events.values() if e["device"] == "office-meter")
    school = next(e for e in events.values() if e["device"] == "school-pv")
    assert school["kind"] == "gap", school
    assert office["seen"] is not None and office["expected_high"] is not None, office
    assert office["seen"] > office["expected_high"], office
    others = sorted({e["device"] for e in events.values()} - set(FAULTY))
    print("\n".join([*report, f"events on other devices: {others or 'none'}"]))

    async with browser_page(demo.url, demo.api_key) as page:
        for device, site in FAULTY.items():
            await page.goto(f"{demo.url}/dashboard/site.html?site={site}")
            item = page.locator(f'#anomalies li[data-device="{device}"]')
            await item.first.wait_for(timeout=15_000)
            assert await item.count() == 1, await item.all_inner_texts()
            shown = await item.inner_text()
            event = office if device == "office-meter" else school
            # every point is in the item's list; a long one shows its first five and a count
            listed = (await item.get_attribute("data-points") or "").split(",")
            assert listed == event["points"], (listed, event)
            if len(listed) > 6:
                assert all(p in shown for p in listed[:5]), shown
                assert f"and {len(listed) - 5} more" in shown, shown
                assert await item.get_attribute("title") == ", ".join(listed)
            else:
                assert all(p in shown for p in listed), (shown, event)
            assert "why" in shown, shown
            if device == "office-meter":  # the why line's unit is its point's
                unit, counter = units[office["point"]]
                # an energy counter's rate is a power (kWh/h is kW)
                rate = {"kWh": "kW", "Wh": "W", "MWh": "MW"}.get(unit, f"{unit}/h")
                assert f" {rate}" in shown if counter else f" {unit}" in shown, shown
                assert ("counter" in shown) == counter, shown
            await page.screenshot(
                path=str(ARTIFACTS / f"demo-fault-{site.removeprefix('rt-')}.png"),
                full_page=True,
            )


# -- 2. the dashboard ----------------------------------------------------------------------


def simulated_sites(repo_root: Path) -> set[str]:
    """Sites hosting a device of the demo's scenario (from the config, not hard-coded); the
    inventory's utility counters (gas, coal, heat, data centre) report no power, so a site
    with only those is not one whose power tile the dashboard fills."""
    scenario = yaml.safe_load((repo_root / SCENARIO).read_text())
    utility = {"gas-meter", "coal-weigher", "heat-meter", "ups-output", "cooling-plant"}
    utility.add("water-meter")
    simulated = {d["id"] for d in scenario["devices"] if d["profile"] not in utility}
    devices = yaml.safe_load((repo_root / "config/devices.yaml").read_text())["devices"]
    return {d["site"] for d in devices if d["id"] in simulated}


def setpoint_limits(repo_root: Path) -> dict[str, float]:
    """The HVAC setpoint's writable limits (min, max, step in degC) from its device profile."""
    profile = yaml.safe_load((repo_root / "config/profiles/hvac-controller.yaml").read_text())
    (point,) = (p for p in profile["points"] if p["name"] == "setpoint")
    return {k: float(point["writable"][k]) for k in ("min", "max", "step")}


def next_setpoint(current: float, limits: dict[str, float]) -> float:
    """A setpoint on the step grid within the limits, two steps away from `current`."""
    step = limits["step"]
    snapped = min(max(round(current / step) * step, limits["min"]), limits["max"])
    up = snapped + 2 * step
    return up if up <= limits["max"] else snapped - 2 * step


async def stored(http: httpx.AsyncClient, sites: set[str]) -> tuple[dict[str, float], float | None]:
    """Power per simulated site from the overview, and the school HVAC's stored setpoint."""
    overview = (await http.get("/api/v1/overview")).raise_for_status().json()
    power = {s["id"]: s["power_kw"] or 0.0 for s in overview if s["id"] in sites}
    latest = await http.get(
        "/api/v1/readings/latest",
        params={"site": "rt-school", "device": "school-hvac", "point": "setpoint"},
    )
    items = latest.raise_for_status().json()["items"]
    return power, (float(items[0]["value"]) if items else None)


async def wait_for_readings(
    http: httpx.AsyncClient, sites: set[str], timeout_s: float
) -> tuple[dict[str, float], float]:
    """Until every simulated site has non-zero power in the overview and the school HVAC's
    setpoint is stored; returns (power per site, current setpoint). No sleeping: the API is
    asked again each time its live stream delivers an event (a telemetry batch or a heartbeat),
    under a deadline."""
    power: dict[str, float] = {}
    setpoint: float | None = None
    try:
        async with (
            asyncio.timeout(timeout_s),
            http.stream("GET", "/api/v1/stream", timeout=None) as events,
        ):
            events.raise_for_status()
            async for line in events.aiter_lines():
                if line.startswith("data:") or line.startswith(":"):
                    power, setpoint = await stored(http, sites)
                    if setpoint is not None and len(power) == len(sites) and all(power.values()):
                        return power, setpoint
    except TimeoutError:
        pass
    raise AssertionError(f"no stored readings in {timeout_s} s: power={power} sp={setpoint}")


async def office_windows(http: httpx.AsyncClient) -> dict[str, list]:
    got = await http.get(
        "/api/v1/energy", params={"site": "rt-office", "resolution": "1m", "flow": "import",
                                  "start": "-1d"}
    )  # fmt: skip
    meters = [s for s in got.raise_for_status().json()["series"] if s["device"] == "office-meter"]
    return meters[0] if meters else {}  # no window closed yet


async def power_integral_kwh(http: httpx.AsyncClient, t0_ms: int, t1_ms: int) -> tuple[float, int]:
    """Trapezoid of the office meter's stored power over [t0, t1) with samples above 2x the
    median (the injected x5 spike) interpolated over; returns (kWh, samples dropped)."""
    got = await http.get(
        "/api/v1/series",
        params={"device": "office-meter", "point": "power_total",
                "start": _iso(t0_ms - 60_000), "end": _iso(t1_ms + 60_000)},
    )  # fmt: skip
    [series] = got.raise_for_status().json()["series"]
    t = np.asarray(series["t_ms"], dtype=np.float64)
    w = np.asarray(series["values"], dtype=np.float64)
    good = w < 2 * np.median(w)
    grid = np.unique(np.r_[t0_ms, t[good & (t > t0_ms) & (t < t1_ms)], t1_ms])
    watts = np.interp(grid, t[good], w[good])
    return float(np.sum((watts[1:] + watts[:-1]) / 2 * np.diff(grid)) / 3.6e9), int((~good).sum())


async def spike_windows(http: httpx.AsyncClient, started: float) -> dict[str, list]:
    """The office meter's windows once the spike's are derived: a `suspect` window followed by
    a later one that is not (the counter came back). Asked every 2 s under a deadline."""
    await asyncio.sleep(max(0.0, SPIKE_OVER_S - (time.monotonic() - started)))
    meter: dict[str, list] = {}
    deadline = time.monotonic() + WINDOWS_TIMEOUT_S
    while time.monotonic() < deadline:
        meter = await office_windows(http)
        quality = meter.get("quality", [])
        if "suspect" in quality and quality[-1] != "suspect":
            return meter
        await asyncio.sleep(2.0)
    raise AssertionError(f"the spike's windows were not derived in time: {meter}")


async def check_office_energy(http: httpx.AsyncClient, page: Any, started: float) -> None:
    meter = await spike_windows(http, started)
    t0, t1 = meter["t_ms"][0], meter["t_ms"][-1] + 60_000
    assert len(meter["t_ms"]) == (t1 - t0) // 60_000, meter["t_ms"]  # contiguous windows
    derived = sum(meter["kwh"])
    integral, dropped = await power_integral_kwh(http, t0, t1)
    assert dropped >= 1, "the demo's spike is not in the stored power"
    assert "suspect" in meter["quality"], meter["quality"]
    # the x5 readings were glitches (the counter came back): their span is bridged by one
    # estimated interval instead of being counted as 159 MWh up and a reset down
    assert sum(meter["estimated_kwh"]) > 0, meter
    assert abs(derived - integral) <= 0.02 * integral, (derived, integral, meter)
    # The overview shows the sum of today's windows (the demo started today, local time).
    for _ in range(5):
        await page.reload()
        cell = page.locator('tr[data-site="rt-office"] td.energy')
        await cell.wait_for(timeout=15_000)
        await page.wait_for_function(
            "() => document.querySelector('tr[data-site=\"rt-office\"] td.energy')"
            ".dataset.value !== undefined",
            timeout=15_000,
        )
        shown = float(await cell.get_attribute("data-value") or "nan")
        windows = sum(sum(s["kwh"]) for s in (await http.get(
            "/api/v1/energy", params={"site": "rt-office", "resolution": "1m", "flow": "import",
                                      "start": "-1d"})).json()["series"])  # fmt: skip
        if abs(shown - windows) <= 1e-6 * max(windows, 1):
            break  # (a window may close between the page's read and ours: read both again)
    assert abs(shown - windows) <= 1e-6 * max(windows, 1), (shown, windows)
    await page.screenshot(path=str(ARTIFACTS / "demo-energy.png"), full_page=True)


async def test_dashboard_on_the_running_demo(stack: DemoStack, repo_root: Path) -> None:
    demo, started = stack.demo, stack.started
    sites = simulated_sites(repo_root)
    assert {"rt-school", "rt-office", "rt-feeder-7"} <= sites
    async with httpx.AsyncClient(base_url=demo.url, headers=stack.headers, timeout=10) as http:
        _, current = await wait_for_readings(http, sites, READY_TIMEOUT_S)
    limits = setpoint_limits(repo_root)
    assert limits == {"min": 16.0, "max": 28.0, "step": 0.5}, limits
    target = next_setpoint(current, limits)
    assert limits["min"] <= target <= limits["max"] and target != current

    async with browser_page(demo.url, demo.api_key) as page:
        rows = page.locator("#sites-table tbody tr")
        await rows.first.wait_for(timeout=15_000)
        listed = set(await rows.evaluate_all("rs => rs.map(r => r.dataset.site)"))
        assert sites <= listed, (sites, listed)
        for site in sorted(sites):
            shown = await page.locator(f'tr[data-site="{site}"] td.power').inner_text()
            # signed: the PV farm's meter exports by day
            assert float(shown.replace(",", "")) != 0, (site, shown)
        async with httpx.AsyncClient(base_url=demo.url, headers=stack.headers, timeout=10) as http:
            # a few minutes into the demo, energy derived from final readings may be pending
            print(f"overview: {await check_energy_cells(page, http)} sites pending energy")
        await page.screenshot(path=str(ARTIFACTS / "demo-overview.png"), full_page=True)

        await page.click('tr[data-site="rt-school"] a')
        await page.locator("#power-chart canvas").wait_for(timeout=15_000)
        drawn = await page.locator("#power-chart").get_attribute("data-points")
        assert int(drawn or 0) > 0
        await page.screenshot(path=str(ARTIFACTS / "demo-site.png"), full_page=True)

        await page.locator('#cmd-target option[value="school-hvac/setpoint"]').wait_for(
            state="attached", timeout=15_000
        )
        await page.select_option("#cmd-target", "school-hvac/setpoint")
        await page.fill("#cmd-value", f"{target:g}")
        await page.click("#cmd-send")
        await page.wait_for_function(
            "() => ['applied', 'rejected', 'failed', 'expired', 'error']"
            ".includes(document.getElementById('cmd-state').textContent)",
            timeout=30_000,
        )
        await page.screenshot(path=str(ARTIFACTS / "demo-command.png"), full_page=True)
        state = await page.locator("#cmd-state").inner_text()
        detail = await page.locator("#cmd-detail").inner_text()
        assert state == "applied", (state, detail, demo.output())
        readback = re.search(r"read back (-?[\d.]+)", detail)
        assert readback, detail
        assert float(readback[1]) == pytest.approx(target)

        await page.goto(demo.url + "/dashboard/")
        async with httpx.AsyncClient(base_url=demo.url, headers=stack.headers, timeout=10) as http:
            await check_office_energy(http, page, started)
            incident = await office_alert(http)
        # The example rules run in the demo (nothing is sent): the office spike, a strong
        # anomaly in the old town, is an alert incident, listed on arrival at the alerts page.
        await page.goto(demo.url + "/dashboard/alerts.html?site=rt-office")
        await page.select_option("#state", "")  # all states: it may be resolved by now
        row = page.locator(f'#incidents tbody tr[data-id="{incident["id"]}"]')
        await row.wait_for(timeout=15_000)
        assert "Strong anomalies in the old town" in await row.inner_text()
        await page.screenshot(path=str(ARTIFACTS / "demo-alerts.png"), full_page=True)


async def office_alert(http: httpx.AsyncClient) -> dict[str, Any]:
    """The old-town anomaly rule's incident on the office (its spike scores 1.0 > 0.9)."""
    for _ in range(40):  # alert passes run every 15 s
        for state in ("open", "acknowledged", "resolved"):
            got = await http.get("/api/v1/alerts/incidents", params={"state": state})
            assert got.status_code == 200, got.text
            for incident in got.json():
                if incident["rule"] == "old-town-anomalies" and incident["site"] == "rt-office":
                    return dict(incident)
        await asyncio.sleep(3)
    raise AssertionError("the office spike raised no alert incident in two minutes")


# -- 3. Ctrl-C ---------------------------------------------------------------------------


async def test_ctrl_c_stops_the_demo_after_data_flowed(stack: DemoStack, repo_root: Path) -> None:
    demo = stack.demo
    async with httpx.AsyncClient(base_url=demo.url, headers=stack.headers, timeout=10) as http:
        # (run alone, this test waits for the first stored reading)
        await wait_for_readings(http, simulated_sites(repo_root), READY_TIMEOUT_S)
    assert await demo.stop() == 0, demo.output()
    assert "data flowed end to end" in "".join(demo.lines)
