"""`peakline demo` and its history (issue 20): `--no-history`, which starts empty, and a
--state-dir reused from an earlier run, whose new history is still derived from its start.

The backfill itself (past days through the real path: firmware-sim on a stepped clock -> edge
agents -> embedded broker -> ingest -> SQLite, then derived from the history's start, then
live) is checked on the demo the dashboard's history test runs
(tests/browser/test_demo_history_browser.py), so that one backfill serves both.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from peakline_testing.servers import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]


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


@dataclass(frozen=True)
class FirstRun:
    """A `--no-history` run in a fresh --state-dir until readings were stored, then Ctrl-C."""

    state: Path
    began_ns: int
    returncode: int
    seen: list[str]
    rest: str


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    """Run once for both tests: each asserts what it needs of it, and the reuse test reuses a
    copy of its state dir."""
    root = tmp_path_factory.mktemp("first-run")
    began_ns = time.time_ns()
    proc, _ = _start(root, "--no-history")
    seen: list[str] = []
    try:
        _read_until(proc, r"readings stored=[1-9]", seen)
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return FirstRun(root / "state", began_ns, proc.returncode, seen, rest)


def test_no_history_starts_empty(first_run: FirstRun) -> None:
    assert first_run.returncode == 0, "".join(first_run.seen) + first_run.rest
    assert "data flowed end to end" in first_run.rest
    assert not any(" history=" in line for line in first_run.seen), "".join(first_run.seen)
    with contextlib.closing(sqlite3.connect(first_run.state / "store.db")) as db:
        (oldest,) = db.execute(
            "SELECT min(ts) FROM samples JOIN series ON series.id = samples.series_id"
            " WHERE measurement = 'reading'"
        ).fetchone()
    # Nothing before the demo started (a second of slack for the first poll's stamp).
    assert oldest >= first_run.began_ns - 1_000_000_000


def test_reused_state_dir_derives_the_new_history_from_its_start(
    first_run: FirstRun, tmp_path: Path
) -> None:
    """A --state-dir with a deriver checkpoint from an earlier run: the new history is still
    derived and scored from its start (the saved position used to win)."""
    assert first_run.returncode == 0, "".join(first_run.seen) + first_run.rest
    shutil.copytree(first_run.state, tmp_path / "state")  # the first run's, as it left it
    assert (tmp_path / "state/derive").exists(), "the first run left no deriver checkpoint"
    began = time.time()
    proc, _ = _start(tmp_path, "--history-days", "1", "--history-budget", "120")
    seen: list[str] = []
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
