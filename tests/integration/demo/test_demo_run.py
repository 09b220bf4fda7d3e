"""`peakline demo --duration N` as a new user runs it: a subprocess, exit code and report.

Once on the embedded defaults (amqtt broker, SQLite store), once against a real mosquitto and
influxd started by the fixtures. Ports are free ones; the state dir is the test's own.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from peakline_testing.servers import Influxd, Mosquitto, free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
DURATION_S = 60


def _demo(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        sys.executable,
        "-m",
        "peakline_cli.main",
        "demo",
        "--duration",
        str(DURATION_S),
        "--port",
        str(free_port()),
        "--state-dir",
        str(tmp_path / "state"),
        *extra,
    ]
    return subprocess.run(
        cmd, cwd=REPO, capture_output=True, text=True, timeout=DURATION_S + 120, check=False
    )


def _stored(out: str) -> int:
    match = re.search(r"data flowed end to end: (\d+) readings stored", out)
    assert match, out
    return int(match[1])


def _explain(proc: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    log = tmp_path / "state/demo.log"
    tail = "\n".join(log.read_text().splitlines()[-40:]) if log.exists() else "<no log>"
    return f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}\n--- demo.log ---\n{tail}"


def test_demo_on_embedded_defaults_flows_end_to_end(tmp_path: Path) -> None:
    proc = _demo(tmp_path)
    assert proc.returncode == 0, _explain(proc, tmp_path)
    assert _stored(proc.stdout) > 0
    store = tmp_path / "state/store.db"
    with contextlib.closing(sqlite3.connect(store)) as db:
        tags = [json.loads(t) for (t,) in db.execute("SELECT tags FROM series")]
    # Every kind of source made it: Modbus meters and the MQTT air sensor, whose readings
    # carry the simulator's own timestamps (the demo starts simulated time now).
    assert {"school-meter", "school-pv", "school-air"} <= {t.get("device") for t in tags}


def test_demo_against_real_mosquitto_and_influxd(
    fresh_mosquitto: Mosquitto, influxd: Influxd, topic_prefix: str, tmp_path: Path
) -> None:
    database = f"demo_{topic_prefix.replace('-', '_')}"
    proc = _demo(
        tmp_path,
        "--broker",
        fresh_mosquitto.url,
        "--influx",
        influxd.url,
        "--influx-db",
        database,
        "--topic-prefix",
        topic_prefix,
        "--history-days",
        "1",  # the backfill through mosquitto and into influxd, kept short
    )
    assert proc.returncode == 0, _explain(proc, tmp_path)
    stored = _stored(proc.stdout)
    # The readings are in influxd itself, not only in the demo's own count.
    result = influxd.query('SELECT count("value") FROM "reading"', db=database)
    series = result["results"][0]["series"]  # type: ignore[index]
    assert sum(row[1] for row in series[0]["values"]) >= stored  # type: ignore[index]


def test_demo_reports_why_when_nothing_can_flow(tmp_path: Path) -> None:
    """A broker nobody listens on: exit 2 (could not start) with the reason."""
    dead = f"mqtt://127.0.0.1:{free_port()}"
    proc = _demo(tmp_path, "--broker", dead)
    assert proc.returncode == 2, _explain(proc, tmp_path)
    assert "cannot connect to the broker" in proc.stdout


def test_api_port_in_use_is_a_clean_exit_2(tmp_path: Path) -> None:
    """Another process on the API port: exit 2 with the port named, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = [
            sys.executable,
            "-m",
            "peakline_cli.main",
            "demo",
            "--duration",
            "20",
            "--no-history",
            "--port",
            str(port),
            "--state-dir",
            str(tmp_path / "state"),
        ]
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, _explain(proc, tmp_path)
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stdout, _explain(proc, tmp_path)
    assert "Traceback" not in proc.stdout + proc.stderr, _explain(proc, tmp_path)


def test_ctrl_c_stops_the_demo_cleanly(tmp_path: Path) -> None:
    """No --duration: runs until SIGINT, then stops every component and exits 0."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "peakline_cli.main",
            "demo",
            "--port",
            str(free_port()),
            "--state-dir",
            str(tmp_path / "state"),
            "--no-history",  # this test is about stopping; history has its own tests
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        # The status line repeats every few seconds; wait (with the process's own output as
        # the clock, bounded by the test timeout) until readings are stored.
        for line in proc.stdout:
            seen.append(line)
            match = re.search(r"readings stored=(\d+)", line)
            if match and int(match[1]) > 0:
                break
        else:
            raise AssertionError("".join(seen))
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(seen) + rest
    assert "data flowed end to end" in rest
    summary = [line for line in rest.splitlines() if "readings stored=" in line][-1]
    states = [
        tok.split("=")[1] for tok in summary.split("api_points=")[1].split()[1:] if "=" in tok
    ]
    assert states and set(states) == {"stopped"}, summary
