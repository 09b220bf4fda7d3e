"""bench/edge_bacnet.py at a small scale (2 BACnet devices x 5 points and the Modbus baseline,
1 s interval, a few seconds), so the benchmark cannot rot: it runs end to end, through a real
agent process and mosquitto, and its last line is the JSON the docs quote."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(240)
BENCH = Path(__file__).resolve().parents[3] / "bench" / "edge_bacnet.py"
SMALL = ["--devices", "2", "--points", "5", "--interval", "1", "--seconds", "3", "--warmup", "1"]


def test_edge_bacnet_bench_runs_small() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), *SMALL],
        capture_output=True,
        text=True,
        timeout=200,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(figures) == {"bacnet", "modbus_baseline"}
    for protocol, result in zip(("bacnet", "modbus"), figures.values(), strict=True):
        assert result["protocol"] == protocol
        assert (result["devices"], result["points_per_device"]) == (2, 5)
        # (process CPU counts in 10 ms ticks: a few seconds of polling ten points can read 0)
        assert 0 <= result["cpu_share_of_one_core"] < 2
        assert result["rss_mb"] > 0
        assert result["readings_per_s"] > 0
        # one request per cycle: 5 present-values fit one ReadPropertyMultiple, 10 registers
        # one read
        assert result["requests_per_cycle"] == 1.0
        assert result["errors"] == 0
        assert result["cycles_full_good"] >= 1
        assert result["cycles_partial_or_error"] == 0
        assert result["cycles_expected"] >= result["cycles_full_good"]
