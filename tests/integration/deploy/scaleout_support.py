"""The scale-out layout's pieces for one machine: a district's known traffic, `peakline-api run`
replicas as child processes, and the API's shared state given as one URL (`state_args`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from peakline_core.wire import Reading, TelemetryBatch
from peakline_testing import configs
from peakline_testing.waiting import wait_until

S = 1_000_000_000
REPO = Path(__file__).resolve().parents[3]
API_BIN = Path(sys.executable).parent / "peakline-api"
STEP_S = 10
MINUTES = 90
# One district: three sites, two SDM630 meters each (device: (site, mean kW)).
METERS = {
    "s1-main": ("s1", 120.0), "s1-hvac": ("s1", 45.0),
    "s2-main": ("s2", 80.0), "s2-hvac": ("s2", 30.0),
    "s3-main": ("s3", 60.0), "s3-pv": ("s3", 15.0),
}  # fmt: skip
POINTS = ("import_energy", "power_total", "voltage_l1", "frequency")


def write_config(root: Path) -> Path:
    """The district's config directory (the API and the ingest workers read the same one)."""
    (root / "profiles").mkdir(parents=True)
    (root / "profiles/sdm630.yaml").write_text((REPO / "config/profiles/sdm630.yaml").read_text())
    (root / "emission-factors").mkdir()
    for f in (REPO / "config/emission-factors").glob("cn-*.yaml"):
        (root / "emission-factors" / f.name).write_text(f.read_text())
    sites = sorted({site for site, _ in METERS.values()})
    return configs.write_config_dir(
        root,
        programme_doc=configs.programme(city="c", district="d", programme_id="p"),
        sites=[
            configs.site(s, name=s, city="c", district="d", floor_area_m2=4000,
                         grid_region="CN-EAST")
            for s in sites
        ],
        agents=[configs.agent("mqtt://127.0.0.1:1", agent_id="gw", batch_max_delay_s=None)],
        devices=[
            {"id": d, "site": site, "agent": "gw", "profile": "sdm630",
             "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": 1 + i}}
            for i, (d, (site, _)) in enumerate(METERS.items())
        ],
    )  # fmt: skip


def district_traffic(end_ns: int) -> list[TelemetryBatch]:
    """What the district's edge agent sends for MINUTES up to `end_ns`: one batch per meter per
    minute (6 readings of each of POINTS), sequence numbers per agent as the edge counts them.
    Values are known: a wobbling power (W), its integral on the import counter (kWh), a
    voltage and a frequency that encode the reading's index."""
    n = MINUTES * 60 // STEP_S
    ts = end_ns - (n - 1 - np.arange(n, dtype=np.int64)) * STEP_S * S
    per_meter: dict[str, list[TelemetryBatch]] = {}
    for m, (device, (site, kw)) in enumerate(METERS.items()):
        power_w = kw * 1000 * (1.0 + 0.3 * np.sin(np.arange(n) / (37.0 + m)))
        counter = 10_000.0 * (m + 1) + np.concatenate(
            [[0.0], np.cumsum(power_w[1:] / 1000 * STEP_S / 3600)]
        )
        batches = []
        for lo in range(0, n, 60 // STEP_S):
            readings = []
            for i in range(lo, min(n, lo + 60 // STEP_S)):
                t = int(ts[i])
                readings += [
                    Reading("import_energy", t, float(counter[i])),
                    Reading("power_total", t, float(power_w[i])),
                    Reading("voltage_l1", t, 230.0 + (i % 100) / 100),
                    Reading("frequency", t, 50.0 + m / 100),
                ]
            batches.append(TelemetryBatch("gw", site, device, 0, int(ts[lo]), readings))
        per_meter[device] = batches
    # The agent interleaves its meters minute by minute, numbering its batches in order.
    out = []
    for minute in zip(*per_meter.values(), strict=True):
        for b in minute:
            out.append(TelemetryBatch(b.agent, b.site, b.device, len(out), b.sent, b.readings))
    return out


def state_args(state_url: str) -> list[str]:
    """The options giving an API process (or `peakline-api keys`) its shared state.

    `sqlite:///dir/api-keys.db`: the SQLite files every replica opens in common (the keys file
    named, ledger.db, retrofits.db, alerts.db and refrigerants.db beside it). A
    `postgresql://` URL is handed on as `--state-url` (the PostgreSQL state store)."""
    if state_url.startswith("sqlite:///"):
        return ["--keys-db", state_url.removeprefix("sqlite:///")]
    if state_url.startswith(("postgresql://", "postgres://")):
        return ["--state-url", state_url]
    raise ValueError(f"unknown API state URL {state_url!r}")


def create_key(state_url: str, name: str, role: str = "viewer") -> str:
    """An API key made with `peakline-api keys create` in the shared state; its secret."""
    done = subprocess.run(
        [str(API_BIN), "keys", "create", "--name", name, "--role", role, "--city", "*",
         *state_args(state_url)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def revoke_key(state_url: str, token: str) -> None:
    key_id = token.split("_", 2)[1]
    subprocess.run(
        [str(API_BIN), "keys", "revoke", key_id, *state_args(state_url)],
        capture_output=True,
        check=True,
    )


@dataclass
class ApiReplica:
    """One `peakline-api run` process on its own port, following the broker."""

    name: str
    args: list[str]
    port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.workdir / f"{self.name}.log", "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [str(API_BIN), "run", "--port", str(self.port), *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()

        def following() -> bool:  # serving, and its live table follows the broker
            if self.proc is None or self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log[-3000:]}")
            try:
                ready = httpx.get(self.url + "/ready", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                return False
            return bool(ready.get("checks", {}).get("broker") == "ok")

        wait_until(following, 90, f"{self.name} serving and following the broker")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def log(self) -> str:
        return (self.workdir / f"{self.name}.log").read_text(errors="replace")
