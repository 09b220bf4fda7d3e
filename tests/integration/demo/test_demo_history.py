"""`peakline demo` starting with history (issue 20): past days run through the real path
(firmware-sim on a stepped clock -> edge agents -> embedded broker -> ingest -> SQLite), then
derived from the history's start, then live. And `--no-history`, which starts empty.

A short span (2 simulated days) keeps the test quick; the demo's own default is 7.
"""

from __future__ import annotations

import contextlib
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from peakline_testing.servers import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
DAYS = 2
# Every site of the example district has a simulated meter in the demo (district-small.yaml).
SIMULATED_SITES = {
    s["id"] for s in yaml.safe_load((REPO / "config/sites.yaml").read_text())["sites"]
}


def _start(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "peakline_cli.main",
            "demo",
            "--port",
            str(port),
            "--state-dir",
            str(tmp_path / "state"),
            *extra,
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, port


def _read_until(proc: subprocess.Popen[str], pattern: str, seen: list[str]) -> re.Match[str]:
    """The process's own output is the clock (the status line repeats every few seconds);
    the test's timeout bounds it."""
    assert proc.stdout is not None
    for line in proc.stdout:
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError("".join(seen))


def _stop(proc: subprocess.Popen[str], seen: list[str]) -> str:
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, "".join(seen) + rest
    return rest


def test_demo_backfills_history_through_the_real_path(tmp_path: Path) -> None:
    began = time.time()
    # A generous budget: this test is about the path, not the shortening (unit-tested), and
    # the shared test machine may be busy.
    proc, port = _start(tmp_path, "--history-days", str(DAYS), "--history-budget", "120")
    seen: list[str] = []
    try:
        key = _read_until(proc, r"API key \(paste into the dashboard\): (\S+)", seen)[1]
        # The backfill stores the history, then the live deriver derives it from its start.
        _read_until(proc, r"history=derived", seen)
        backfill_s = time.time() - began
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ) as api:
            resp = api.get("/api/v1/energy", params={"resolution": "1d", "start": f"-{DAYS + 1}d"})
            assert resp.status_code == 200, resp.text
            daily: dict[str, dict[int, float]] = {}
            for s in resp.json()["series"]:
                per_day = daily.setdefault(s["site"], {})
                for t_ms, kwh in zip(s["t_ms"], s["kwh"], strict=True):
                    per_day[t_ms] = per_day.get(t_ms, 0.0) + (kwh or 0.0)
            report = api.get(
                "/api/v1/reports/emissions", params={"level": "site", "start": f"-{DAYS}d"}
            )
            assert report.status_code == 200, report.text
            cities = api.get("/api/v1/overview/cities")
            assert cities.status_code == 200, cities.text
        rest = _stop(proc, seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "data flowed end to end" in rest
    # Every simulated site has energy on every UTC day the history covers, including the
    # first (partial) day, which only the backfill can have filled.
    first_day = (datetime.now(UTC) - timedelta(days=DAYS)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    days_ms = [int((first_day + timedelta(days=i)).timestamp() * 1000) for i in range(DAYS + 1)]
    assert set(daily) >= SIMULATED_SITES, daily.keys()
    for site in SIMULATED_SITES:
        for day in days_ms:
            assert daily[site].get(day, 0.0) > 0, (site, day, daily[site])
    rows = {row["id"]: row for row in report.json()["items"]}
    for site in SIMULATED_SITES:
        assert sum(rows[site]["energy_kwh"].values()) > 0, rows[site]
    # The readings carry simulated timestamps in the past, stamped by the edge agents.
    with contextlib.closing(sqlite3.connect(tmp_path / "state/store.db")) as db:
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
    assert hourly_sites == SIMULATED_SITES, hourly_sites
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
    print(f"backfill of {DAYS} simulated days stored and derived in {backfill_s:.1f} s")


def test_no_history_starts_empty(tmp_path: Path) -> None:
    began_ns = time.time_ns()
    proc, _ = _start(tmp_path, "--no-history")
    seen: list[str] = []
    try:
        _read_until(proc, r"readings stored=[1-9]", seen)
        rest = _stop(proc, seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "data flowed end to end" in rest
    assert not any(" history=" in line for line in seen), "".join(seen)
    with contextlib.closing(sqlite3.connect(tmp_path / "state/store.db")) as db:
        (oldest,) = db.execute(
            "SELECT min(ts) FROM samples JOIN series ON series.id = samples.series_id"
            " WHERE measurement = 'reading'"
        ).fetchone()
    # Nothing before the demo started (a second of slack for the first poll's stamp).
    assert oldest >= began_ns - 1_000_000_000


def test_reused_state_dir_derives_the_new_history_from_its_start(tmp_path: Path) -> None:
    """A --state-dir with a deriver checkpoint from an earlier run: the new history is still
    derived and scored from its start (the saved position used to win)."""
    proc, _ = _start(tmp_path, "--no-history")
    seen: list[str] = []
    try:
        _read_until(proc, r"readings stored=[1-9]", seen)
        _stop(proc, seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path / "state/derive").exists(), "the first run left no deriver checkpoint"
    began = time.time()
    proc, _ = _start(tmp_path, "--history-days", "1", "--history-budget", "120")
    seen = []
    try:
        _read_until(proc, r"history=derived", seen)
        _stop(proc, seen)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with contextlib.closing(sqlite3.connect(tmp_path / "state/store.db")) as db:
        (scored,) = db.execute(
            "SELECT count(*) FROM samples JOIN series ON series.id = samples.series_id"
            " WHERE measurement = 'anomaly_score' AND ts < ?",
            (int((began - 12 * 3600) * 1e9),),
        ).fetchone()
    assert scored > 0, "".join(seen)
