"""The whole pipeline as separate processes for fault injection, and exact reading-by-reading
accounting of what was produced against what influxd holds.

firmware-sim (in this process, Modbus TCP on loopback) -> `peakline-edge run` (subprocess) ->
mosquitto -> `peakline-ingest run` (subprocess) -> influxd.

"Produced" is the set of readings, identified by (device, point, ts in UTC ns), carried by the
telemetry batches the edge agent published for the test's topic prefix, observed by a QoS 1
subscriber with a persistent session (so it misses nothing across broker restarts); batches
re-delivered under at-least-once are recognised by (agent, seq) and counted once. "Stored" is
the set of (device, point, ts) present in influxd's `reading` measurement. Lost = produced not
stored; duplicated = stored rows beyond one per produced reading (extra keys plus repeated rows).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml

from firmware_sim import DeviceSpec, Physics, Scenario, Simulation, load_profiles, run
from peakline_testing import configs
from peakline_testing.configs import copy_example
from peakline_testing.servers import Influxd, Mosquitto
from peakline_testing.waiting import eventually
from tests.integration.edge.edge_harness import AgentProcess, Collector
from tests.integration.ingest.support import IngestProcess, ingest_args

REPO = Path(__file__).resolve().parents[3]
Key = tuple[str, str, int]  # (device, point, ts UTC ns)
OUTAGE_S = 6.0  # wall seconds a server or link stays down in the suite


@dataclass(frozen=True)
class Tally:
    """One scenario's accounting, in readings."""

    scenario: str
    produced: int
    stored: int
    lost: int
    duplicated: int
    redelivered_batches: int  # seen twice on the wire (allowed), never twice in storage
    dropped_by_policy: int = 0
    recovery_s: float | None = None
    left_in_spool: int = 0  # readings the stopped agent still held (published on its restart)
    sample_lost: tuple[Key, ...] = ()  # a few lost readings, for the failure message

    def row(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "sample_lost"}


def scenario(devices: int) -> Scenario:
    specs = [
        DeviceSpec(id=f"m{i:03d}", profile="sdm630", physics=Physics(base_kw=10 + i, peak_kw=60))
        for i in range(devices)
    ]
    return Scenario(name="reliability", seed=11, speed=1.0, physics_step_s=1,
                    start=datetime(2025, 1, 6, 8, tzinfo=UTC), devices=specs)  # fmt: skip


def write_config(
    root: Path, broker: str, prefix: str, sim: Simulation, poll_s: float, spool: dict[str, Any]
) -> Path:
    """A configuration directory: agent gw1 at site s1 polling every simulated device."""
    copy_example(root, "profiles", "emission-factors")
    region = yaml.safe_load((REPO / "config/sites.yaml").read_text())["sites"][0]["grid_region"]
    devices = [
        {"id": name, "site": "s1", "agent": "gw1", "profile": "sdm630", "poll_interval_s": poll_s,
         "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": ep.port,
                        "unit_id": ep.unit_id, "timeout_s": 1, "retries": 1}}
        for name, ep in sorted(sim.endpoints.items())
    ]  # fmt: skip
    return configs.write_config_dir(
        root,
        sites=[configs.site(name="S1", floor_area_m2=2000, grid_region=region)],
        agents=[configs.agent(broker, prefix, site="s1", spool=spool)],
        devices=devices,
    )


@dataclass
class Pipeline:
    """Handles on every running part; the test injects faults through them."""

    root: Path
    sim: Simulation
    mosquitto: Mosquitto
    influxd: Influxd
    database: str
    collector: Collector
    agent: AgentProcess
    ingest: IngestProcess
    broker_url: str
    _ingest_argv: list[str] = field(default_factory=list)

    # -- produced ---------------------------------------------------------------------------
    def produced(self) -> set[Key]:
        return {(b.device, r.point, r.ts) for b in self.collector.batches for r in b.readings}

    def redelivered_batches(self) -> int:
        ids = [(b.agent, b.seq) for b in self.collector.batches]
        return len(ids) - len(set(ids))

    # -- stored -----------------------------------------------------------------------------
    def stored_rows(self) -> list[Key]:
        """Every stored reading row (quality is written for every reading, value or not)."""
        r = httpx.post(
            f"{self.influxd.url}/query",
            params={"db": self.database, "epoch": "ns"},
            data={"q": 'SELECT "quality" FROM "reading" GROUP BY "device", "point"'},
            timeout=60,
        )
        r.raise_for_status()
        rows: list[Key] = []
        for series in r.json()["results"][0].get("series", []):
            tags = series["tags"]
            rows.extend((tags["device"], tags["point"], int(t)) for t, _ in series["values"])
        return rows

    def stored(self) -> set[Key]:
        return set(self.stored_rows())

    # -- process control --------------------------------------------------------------------
    def restart_ingest(self) -> None:
        self.ingest = IngestProcess(self._ingest_argv, self.root)
        self.ingest.start()

    def restart_agent(self) -> None:
        self.agent.start()

    async def wait_stored(self, keys: set[Key], timeout_s: float, what: str) -> float:
        """Wait until every key is stored; returns the seconds it took."""
        t0 = time.monotonic()
        await eventually(
            lambda: keys <= self.stored(), timeout_s, what, every_s=0.5, in_thread=True
        )
        return time.monotonic() - t0

    async def wait_more_produced(self, n: int, timeout_s: float = 30.0) -> None:
        """Wait until `n` more readings were published than now."""
        start = len(self.produced())
        await eventually(
            lambda: len(self.produced()) >= start + n, timeout_s, f"{n} readings", in_thread=True
        )

    def edge_health(self) -> dict[str, Any]:
        path = self.root / "edge-state" / "health.json"
        try:
            health: dict[str, Any] = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return health

    def spool_drained(self) -> bool:
        """The agent is connected and has no backlog: its spool is empty or holds only the
        last few seconds (under steady load it is never empty at the moment the health file,
        rewritten every 2 s, is written)."""
        health = self.edge_health()
        if not health.get("uplink_connected"):
            return False
        spool = health["spool"]
        return bool(spool["batches"] == 0 or spool["oldest_age_s"] < 3.0)

    async def settle(self, name: str, timeout_s: float = 60.0, **extra: Any) -> Tally:
        """Let the agent drain its spool, stop it cleanly, wait for storage to catch up and
        count. Everything the agent polled before the stop is then in `produced`."""
        if self.agent.proc is not None and self.agent.proc.poll() is None:
            mark = time.time()
            await eventually(
                lambda: self.spool_drained() and self.edge_health()["ts"] / 1e9 > mark,
                timeout_s, "edge spool drained", every_s=0.2, in_thread=True,
            )  # fmt: skip
            assert await self.agent.terminate() == 0, "edge agent did not exit cleanly"
        # the agent rewrites its health file after the final flush: what it could not publish
        left = int(self.edge_health().get("spool", {}).get("readings", 0))
        produced = self.produced()
        try:
            await self.wait_stored(produced, timeout_s, "storage to hold every produced reading")
        except AssertionError:
            pass  # counted below: the tally says what is missing
        produced = self.produced()  # the recorder has caught up with the broker by now
        rows = self.stored_rows()
        stored = set(rows)
        duplicated = len(stored - produced) + (len(rows) - len(stored))
        lost = produced - stored
        return Tally(name, len(produced), len(rows), len(lost), duplicated,
                     self.redelivered_batches(), left_in_spool=left,
                     sample_lost=tuple(sorted(lost)[:5]), **extra)  # fmt: skip


def assert_exact(t: Tally) -> None:
    """Zero lost, zero duplicated, and something was produced at all."""
    assert t.produced > 0
    assert (t.lost, t.duplicated, t.left_in_spool) == (0, 0, 0), t
    assert t.stored == t.produced, t


async def hold(seconds: float) -> None:
    """Keep a fault in place for a fixed wall time while the edge keeps polling."""
    await asyncio.sleep(seconds)  # the outage itself, not a synchronisation


@asynccontextmanager
async def pipeline(
    root: Path,
    mosquitto: Mosquitto,
    influxd: Influxd,
    prefix: str,
    devices: int = 3,
    poll_s: float = 0.5,
    spool: dict[str, Any] | None = None,
    broker_url_for_edge: str | None = None,
    group: str = "ingest",
) -> AsyncIterator[Pipeline]:
    """Start firmware-sim, the subscriber that records what is produced, ingest and the edge
    agent; stop them all on exit. `broker_url_for_edge` lets a test put a proxy in between."""
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True)
    database = f"r_{prefix}"
    influxd.query(f'CREATE DATABASE "{database}"')
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(
            run(scenario(devices), load_profiles(REPO / "config/profiles"))
        )
        edge_broker = broker_url_for_edge or mosquitto.url
        config = write_config(root / "config", edge_broker, prefix, sim, poll_s, spool or {})
        collector = Collector(mosquitto.host, mosquitto.port, prefix)
        task = asyncio.create_task(collector.run())
        stack.callback(task.cancel)
        await eventually(collector.connected.is_set, 20, "recorder connected", in_thread=True)
        base = ingest_args(
            mosquitto.url, f"{influxd.url}?db={database}", prefix, root / "ingest-state",
            config=str(config),
        )  # fmt: skip
        argv = [*base, "--group", group, "--no-anomaly", "--no-energy"]
        ingest = IngestProcess(argv, root)
        ingest.start()
        stack.callback(lambda: _stop(p.ingest.proc))
        # its persistent session must exist before the first batch, or the broker has no queue
        await eventually(
            lambda: "subscribed" in ingest.log, 30, "ingest subscribed", in_thread=True
        )
        agent = AgentProcess(config, root / "edge-state", root / "agent.log")
        agent.start()
        stack.callback(agent.stop_quietly)
        p = Pipeline(root, sim, mosquitto, influxd, database, collector, agent, ingest,
                     edge_broker, argv)  # fmt: skip
        yield p


def _stop(proc: Any) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except Exception:
            proc.kill()
            proc.wait()
