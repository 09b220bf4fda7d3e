"""A district as separate processes for the soak (soak.py): N simulated meters in one
firmware-sim process, split over K edge agents (site sNN, gateway gwNN), mosquitto, one ingest
worker on a plain persistent subscription, influxd; every part its own process so each one's
memory is its own, and its /metrics is scraped.

Accounting is exact, reading by reading, like harness.Pipeline.settle, but compact enough for
millions of readings: the recorder keeps one int64 array of timestamps per (device, point) and
the (agent, seq) of every batch (a batch seen twice is an at-least-once redelivery and counts
once); storage is read back device by device.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from array import array
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import numpy as np
import psutil
import yaml

from peakline_core.wire import decode_telemetry
from peakline_testing import configs
from peakline_testing.configs import copy_example
from peakline_testing.servers import Influxd, Mosquitto, free_port
from peakline_testing.waiting import eventually
from tests.integration.ingest.support import IngestProcess, ingest_args
from tests.integration.reliability.harness import REPO, scenario

BIN = Path(sys.executable).parent
Series = tuple[str, str]  # (device, point)


@dataclass
class Recorder:
    """What the edge agents published, seen by a QoS 1 persistent-session subscriber."""

    host: str
    port: int
    prefix: str
    ts: dict[Series, array[int]] = field(default_factory=dict)
    batches: set[tuple[str, int]] = field(default_factory=set)
    redelivered: int = 0
    readings: int = 0  # unique batches' readings, live (for throughput)
    last_message: float = 0.0  # monotonic time of the last message
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=f"soak-{self.prefix}", clean_session=False
                ) as client:
                    await client.subscribe(f"{self.prefix}/v1/tele/#", qos=1)
                    self.connected.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        self._take(message.payload)
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.2)  # reconnect backoff

    def _take(self, payload: bytes) -> None:
        self.last_message = time.monotonic()
        b = decode_telemetry(payload)
        if (b.agent, b.seq) in self.batches:
            self.redelivered += 1
            return
        self.batches.add((b.agent, b.seq))
        for r in b.readings:
            self.ts.setdefault((b.device, r.point), array("q")).append(r.ts)
        self.readings += len(b.readings)

    def idle_for(self, seconds: float) -> bool:
        return time.monotonic() - self.last_message >= seconds


def write_district(root: Path, devices: dict[str, int], agents: int, broker: str, prefix: str,
                   poll_s: float) -> Path:  # fmt: skip
    """Config for a district: site sNN with gateway gwNN per `len(devices)/agents` meters."""
    copy_example(root, "profiles", "emission-factors")
    region = yaml.safe_load((REPO / "config/sites.yaml").read_text())["sites"][0]["grid_region"]
    names = sorted(devices)
    per = -(-len(names) // agents)
    sites, gws, devs = [], [], []
    for i in range(agents):
        site, gw = f"s{i + 1:02d}", f"gw{i + 1:02d}"
        sites.append(configs.site(site, name=site, floor_area_m2=2000, grid_region=region))
        gws.append(configs.agent(broker, prefix, agent_id=gw, site=site))
        devs += [
            {"id": n, "site": site, "agent": gw, "profile": "sdm630", "poll_interval_s": poll_s,
             "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": devices[n],
                            "unit_id": 1, "timeout_s": 1, "retries": 1}}
            for n in names[i * per : (i + 1) * per]
        ]  # fmt: skip
    return configs.write_config_dir(root, sites=sites, agents=gws, devices=devs)


def _spawn(argv: list[str], log: Path, **kw: Any) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(argv, stdout=kw.pop("stdout", out), stderr=out,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, **kw)  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


async def start_simulator(
    root: Path, devices: int
) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """firmware-sim as its own process; returns it and {device: Modbus TCP port}."""
    path = root / "scenario.yaml"
    path.write_text(
        yaml.safe_dump(scenario(devices).model_dump(mode="json", exclude_defaults=True))
    )
    argv = [str(BIN / "firmware-sim"), str(path), "--profiles", str(REPO / "config/profiles")]
    proc = _spawn(argv, root / "firmware-sim.log", stdout=subprocess.PIPE)
    assert proc.stdout is not None
    ports: dict[str, int] = {}
    while len(ports) < devices:  # "m000: modbus-tcp 127.0.0.1:PORT unit 1", one per device
        line = (await asyncio.to_thread(proc.stdout.readline)).decode()
        if not line:
            raise AssertionError(f"firmware-sim exited: {proc.wait()}")
        name, _, rest = line.partition(": modbus-tcp ")
        ports[name] = int(rest.split()[0].rsplit(":", 1)[1])
    return proc, ports


@dataclass
class District:
    """Handles on the running soak pipeline."""

    root: Path
    influxd: Influxd
    database: str
    recorder: Recorder
    processes: dict[str, psutil.Process]
    agents: dict[str, subprocess.Popen[bytes]]
    ingest_metrics: str  # URL of ingest's /metrics
    agent_metrics: dict[str, str] = field(default_factory=dict)  # gateway -> /metrics URL

    def metrics_up(self) -> bool:
        try:
            for url in [self.ingest_metrics, *self.agent_metrics.values()]:
                httpx.get(url, timeout=5).raise_for_status()
        except httpx.HTTPError:
            return False
        return True

    def edge_counts(self) -> dict[str, float]:
        """Summed over the gateways: poll cycles run, failed requests, readings produced."""
        want = {"peakline_edge_cycles_total": "cycles", "peakline_edge_errors_total": "errors",
                "peakline_edge_readings_total": "readings"}  # fmt: skip
        out = dict.fromkeys(want.values(), 0.0)
        for url in self.agent_metrics.values():
            for line in httpx.get(url, timeout=30).text.splitlines():
                name, _, value = line.partition("{")
                if name in want:
                    out[want[name]] += float(value.rsplit(" ", 1)[1])
        return out

    def ingest_counts(self) -> dict[str, float]:
        """Readings ingest stored so far and messages it holds unacknowledged."""
        text = httpx.get(self.ingest_metrics, timeout=30).text
        want = {"peakline_ingest_readings_total": "stored", "peakline_ingest_in_flight_messages":
                "in_flight"}  # fmt: skip
        out = {}
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name in want:
                out[want[name]] = float(value)
        return out

    def health(self, agent: str) -> dict[str, Any]:
        try:
            health: dict[str, Any] = json.loads((self.root / agent / "health.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return health

    def stored_count(self) -> dict[str, int]:
        """{device: rows in the `reading` measurement} (quality is written for every reading)."""
        out = self._q('SELECT count("quality") FROM "reading" GROUP BY "device"')
        return {s["tags"]["device"]: int(s["values"][0][1]) for s in out.get("series", [])}

    def stored_ts(self, device: str) -> dict[str, np.ndarray]:
        out = self._q(f"SELECT \"quality\" FROM \"reading\" WHERE \"device\" = '{device}' "
                      'GROUP BY "point"')  # fmt: skip
        return {s["tags"]["point"]: np.array([int(t) for t, _ in s["values"]], dtype=np.int64)
                for s in out.get("series", [])}  # fmt: skip

    def _q(self, q: str) -> dict[str, Any]:
        r = httpx.post(f"{self.influxd.url}/query", timeout=120,
                       params={"db": self.database, "epoch": "ns"}, data={"q": q})  # fmt: skip
        r.raise_for_status()
        result: dict[str, Any] = r.json()["results"][0]
        return result

    def influxd_vars(self) -> dict[str, float]:
        """influxd's Go heap in use and its TSM write cache (MiB), from /debug/vars."""
        d = httpx.get(f"{self.influxd.url}/debug/vars", timeout=30).json()
        cache = sum(
            v["values"].get("memBytes", 0) for k, v in d.items() if k.startswith("tsm1_cache")
        )
        return {"heap_inuse": d["memstats"]["HeapInuse"] / 2**20, "tsm_cache": cache / 2**20}

    async def stop_agents(self, timeout_s: float) -> int:
        """Let each gateway drain its spool, SIGTERM it; the readings left in spools."""
        mark = time.time_ns()
        for gw in self.agents:
            await eventually(lambda gw=gw: _drained(self.health(gw), mark), timeout_s,
                             f"{gw} spool drained", every_s=0.2, in_thread=True)  # fmt: skip
        for proc in self.agents.values():
            proc.send_signal(signal.SIGTERM)
        for gw, proc in self.agents.items():
            assert await asyncio.to_thread(proc.wait, 60) == 0, f"{gw} did not exit cleanly"
        return sum(int(self.health(gw).get("spool", {}).get("readings", 0)) for gw in self.agents)

    def account(self) -> dict[str, int]:
        """Exact comparison, series by series, of what was published and what is stored."""
        stored_per_device = self.stored_count()
        devices = sorted({d for d, _ in self.recorder.ts} | set(stored_per_device))
        produced = stored = lost = duplicated = repeats = 0
        for device in devices:
            got = self.stored_ts(device)
            points = {p for d, p in self.recorder.ts if d == device} | set(got)
            for point in points:
                sent = np.frombuffer(self.recorder.ts.get((device, point), array("q")), np.int64)
                have = got.get(point, np.empty(0, np.int64))
                sent_u, have_u = np.unique(sent), np.unique(have)
                produced += len(sent_u)
                repeats += len(sent) - len(sent_u)  # same reading in two distinct batches
                stored += len(have)
                lost += len(np.setdiff1d(sent_u, have_u, assume_unique=True))
                duplicated += len(have) - len(have_u)
                duplicated += len(np.setdiff1d(have_u, sent_u, assume_unique=True))
        return {"produced": produced, "stored": stored, "lost": lost, "duplicated": duplicated,
                "produced_twice": repeats}  # fmt: skip


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _drained(health: dict[str, Any], after_ns: int) -> bool:
    """Connected, written after `after_ns`, and the spool holds at most the last few seconds."""
    if not health.get("uplink_connected") or health.get("ts", 0) <= after_ns:
        return False
    spool = health["spool"]
    return bool(spool["batches"] == 0 or spool["oldest_age_s"] < 3.0)


@asynccontextmanager
async def district(root: Path, mosquitto: Mosquitto, influxd: Influxd, prefix: str, devices: int,
                   agents: int, poll_s: float) -> AsyncIterator[District]:  # fmt: skip
    """Start the district's processes (recorder and ingest subscribed first); stop all on exit."""
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    database = f"r_{prefix}"
    influxd.query(f'CREATE DATABASE "{database}"')
    async with AsyncExitStack() as stack:
        sim, ports = await start_simulator(root, devices)
        stack.callback(_stop, sim)
        config = write_district(root / "config", ports, agents, mosquitto.url, prefix, poll_s)
        recorder = Recorder(mosquitto.host, mosquitto.port, prefix)
        task = asyncio.create_task(recorder.run())
        stack.push_async_callback(_cancel, task)
        await eventually(recorder.connected.is_set, 20, "recorder connected", in_thread=True)
        argv = ingest_args(mosquitto.url, f"{influxd.url}?db={database}", prefix,
                           root / "ingest-state", config=str(config))  # fmt: skip
        port = free_port()
        argv += ["--group", "", "--no-anomaly", "--no-energy", "--health-port", str(port)]
        ingest = IngestProcess(argv, root)
        ingest.start()
        assert ingest.proc is not None
        stack.callback(_stop, ingest.proc)
        await eventually(
            lambda: "subscribed" in ingest.log or ingest.proc.poll() is not None,  # type: ignore[union-attr]
            60, "ingest subscribed", in_thread=True,
        )  # fmt: skip
        assert ingest.proc.poll() is None, f"ingest exited: {ingest.log[-2000:]}"
        gws, metrics = {}, {}
        for i in range(agents):
            gw = f"gw{i + 1:02d}"
            metrics[gw] = free_port()
            argv = [str(BIN / "peakline-edge"), "run", "--config", str(config), "--agent", gw,
                    "--state-dir", str(root / gw), "--metrics-port", str(metrics[gw])]  # fmt: skip
            gws[gw] = _spawn(argv, root / f"{gw}.log")
            stack.callback(_stop, gws[gw])
        assert mosquitto.proc is not None and influxd.proc is not None
        procs = {"firmware-sim": sim.pid, **{f"edge {gw}": p.pid for gw, p in gws.items()},
                 "mosquitto": mosquitto.proc.pid, "ingest": ingest.proc.pid,
                 "influxd": influxd.proc.pid, "recorder (test harness)": os.getpid()}  # fmt: skip
        yield District(root, influxd, database, recorder,
                       {k: psutil.Process(pid) for k, pid in procs.items()}, gws,
                       f"http://127.0.0.1:{port}/metrics",
                       {gw: f"http://127.0.0.1:{n}/metrics" for gw, n in metrics.items()},
                       )  # fmt: skip
