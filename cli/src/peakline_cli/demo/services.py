"""The platform's own components, started in-process for the demo: the simulated district
(firmware-sim), the ingest service, the edge agents and the API. Each is an `async with`
lifetime that reports its state into the demo status; this is the one module that knows how
each component is constructed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI

from peakline_cli.demo.baseline import RetrofitPlan, with_retrofit
from peakline_cli.demo.history import history_faults
from peakline_cli.demo.plan import DemoError, DemoOptions
from peakline_cli.demo.status import DemoStatus, State
from peakline_core.config import PlatformConfig

if TYPE_CHECKING:
    from firmware_sim.runtime import Simulation
    from peakline_ingest.service import IngestService

HISTORY_DERIVE_STEP_S = 7200.0
DR_SLOT_S = 900.0
DEMO_ALERTS_S = 15.0  # an alert pass every 15 s: the fault is listed within a minute
SCENARIO_NAMES = ("demo.yaml", "district.yaml", "district-small.yaml")


def find_scenario(options: DemoOptions) -> Path:
    """--scenario, else the example district's scenario in <config>/scenarios/."""
    if options.scenario is not None:
        return options.scenario
    folder = options.config_dir / "scenarios"
    for name in SCENARIO_NAMES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.y*ml"))
    if not found:
        raise DemoError(f"no scenario in {folder}/ (give --scenario FILE)")
    return found[0]


def demo_faults() -> list[dict[str, object]]:
    """Two faults for the demo to find when the scenario brings none: a meter spike, a PV
    inverter that stops answering for a while (simulated seconds from the scenario start)."""
    return [
        {"kind": "spike", "device": "office-meter", "start": "45s", "duration": "30s"},
        {"kind": "dropout", "device": "school-pv", "start": "20s", "duration": "40s"},
    ]


@contextlib.asynccontextmanager
async def simulators(
    options: DemoOptions,
    config: PlatformConfig,
    broker_url: str,
    status: DemoStatus,
    history_start: datetime | None = None,
    retrofit: RetrofitPlan | None = None,
) -> AsyncIterator[Simulation]:
    """Run the scenario's simulated devices. `history_start` None: simulated time starts now
    and runs live; else it starts there on a manual clock, for the backfill to step through
    the past (`sim.clock.release` then lets it run live). `retrofit`: the works go into the
    meter's physics from their first day (`baseline.with_retrofit`)."""
    from firmware_sim.errors import SimError
    from firmware_sim.profiles import load_profiles
    from firmware_sim.runtime import run as run_simulation
    from firmware_sim.scenario import Scenario

    path = find_scenario(options)
    status.add("firmware-sim", str(path))
    now = datetime.now(UTC).replace(microsecond=0)
    try:
        scenario = Scenario.from_yaml(path)
        known = {d.id for d in scenario.devices}
        # The demo is live: simulated time ends up at now, so the MQTT sensors' own timestamps
        # are as current as the edge's poll stamps (a scenario's fixed start date would put
        # them years in the past, where edge and ingest rightly refuse them).
        live: dict[str, object] = {"start": history_start or now}
        if history_start is not None:
            live["speed"] = 0.0  # manual: the backfill moves it
        if not scenario.faults:
            if history_start is None:
                live["faults"] = [
                    f | {"start": _at(now, str(f["start"]))}
                    for f in demo_faults()
                    if f["device"] in known
                ]
            else:
                # the live ones are injected when the clock goes live (live_faults)
                days = (now - history_start).total_seconds() / 86_400
                live["faults"] = history_faults(history_start, days, known)
        scenario = Scenario.model_validate(scenario.model_dump(by_alias=True) | live)
        if retrofit is not None and retrofit.meter in known:
            scenario = with_retrofit(scenario, retrofit)
        profiles = load_profiles(options.config_dir / "profiles")
    except SimError as exc:
        raise DemoError(f"scenario {path}: {exc}") from None
    async with run_simulation(
        scenario, profiles, mqtt_url=broker_url, topic_prefix=options.topic_prefix
    ) as sim:
        endpoints = modbus_endpoints(sim)
        sensors = len(sim.endpoints) - len(endpoints)
        injected = ", ".join(f"{f.kind} {f.device}" for f in scenario.faults) or "none"
        status.set(
            "firmware-sim",
            State.RUNNING,
            f"{len(endpoints)} Modbus devices, {sensors} MQTT sensors; faults: {injected}",
        )
        yield sim
    status.set("firmware-sim", State.STOPPED)


def live_faults(sim: Simulation) -> list[asyncio.TimerHandle]:
    """After a history: inject the demo's live faults at their offsets from now (the
    simulator's clock has just been released), so they happen live, as without history."""
    loop = asyncio.get_running_loop()
    known = {d.id for d in sim.scenario.devices}
    handles = []
    for f in demo_faults():
        if f["device"] not in known:
            continue
        kind, device = str(f["kind"]), str(f["device"])
        delay_s = float(str(f["start"]).rstrip("s"))
        duration_s = float(str(f["duration"]).rstrip("s"))
        handles.append(loop.call_later(delay_s, _inject, sim, kind, device, duration_s))
    return handles


def _inject(sim: Simulation, kind: str, device: str, duration_s: float) -> None:
    sim.set_fault(kind, device, duration_s=duration_s)


def modbus_endpoints(sim: Simulation) -> dict[str, tuple[str, int]]:
    """Device id -> (host, port) of every simulated Modbus TCP device."""
    return {
        dev: (ep.host or "127.0.0.1", ep.port)
        for dev, ep in sim.endpoints.items()
        if ep.driver == "modbus-tcp" and ep.port is not None
    }


def _at(now: datetime, offset: str) -> str:
    """A demo fault's offset ("45s") from now, as an absolute time."""
    seconds = float(offset.rstrip("s"))
    return datetime.fromtimestamp(now.timestamp() + seconds, tz=UTC).isoformat()


async def prepare_store(store_url: str) -> None:
    """InfluxDB 1.x needs its database created; 2.x maps it (deploy/influxdb/init)."""
    parts = urlsplit(store_url)
    if parts.scheme not in ("http", "https"):
        return
    query = parse_qs(parts.query)
    if "token" in query:
        return
    base = f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")
    database = query["db"][0]
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            resp = await client.post(f"{base}/query", data={"q": f'CREATE DATABASE "{database}"'})
    except httpx.HTTPError as exc:
        raise DemoError(f"cannot reach InfluxDB at {base}: {exc!r}") from None
    if resp.status_code != 200:
        raise DemoError(f"InfluxDB at {base} refused CREATE DATABASE: {resp.text[:200]}")


@contextlib.asynccontextmanager
async def ingest(
    config: PlatformConfig,
    broker_url: str,
    prefix: str,
    store_url: str,
    state_dir: Path,
    status: DemoStatus,
    *,
    mqtt5: bool,
    derive: bool = True,
    derive_from_ns: int | None = None,
    name: str = "ingest",
) -> AsyncIterator[IngestService]:
    """One ingest worker in-process, writing to the demo's store; flushes on the way out.

    `mqtt5` False (the embedded amqtt broker speaks MQTT 3.1.1 only): a plain subscription
    with a persistent 3.1.1 session instead of MQTT 5 session expiry and shared groups.
    `derive` False: store only (the history backfill); `derive_from_ns`: the deriver starts
    there instead of an hour back (a stored history is derived and scored in order).
    """
    from peakline_core.wire import Topics
    from peakline_ingest.derive import Deriver, DeriveSettings
    from peakline_ingest.processors_anomaly import AnomalyProcessor
    from peakline_ingest.service import IngestService, IngestSettings
    from peakline_ingest.validate import DeviceIdentity
    from peakline_store.open import open_store

    settings = IngestSettings(
        broker_url=broker_url,
        topic_prefix=prefix,
        share_group="ingest" if mqtt5 else None,
        # One client id for the backfill's worker and the live one: the live worker takes
        # over the session, so nothing published in between is missed.
        client_id=f"peakline-demo-ingest-{os.getpid()}",
        mqtt_protocol="5" if mqtt5 else "3.1.1",
        state_dir=state_dir / "ingest",
    )
    devices = {d.id: DeviceIdentity(d.site, d.agent) for d in config.devices.values()}
    store = open_store(store_url)
    deriver = None
    if derive:
        # Derive energy, emissions, roll-ups and anomaly scores from what is stored, as
        # production does (one worker, one deriver).
        if derive_from_ns is not None:
            # A history was just stored: derive it from its start. A checkpoint left in a
            # reused --state-dir would otherwise win (its watermark is past the history's
            # start), leaving the new history's readings unscored.
            for kept in ("anomaly", "derive"):
                shutil.rmtree(state_dir / kept, ignore_errors=True)
        anomaly = AnomalyProcessor.restore(Topics(prefix), state_dir / "anomaly", config)
        # Catching up through a stored history, 2-hour steps make ~3x fewer walk calls than
        # 15-minute ones (2 days derived in 5 s instead of 15 s); the rows do not depend on
        # step boundaries (tests/integration/ingest/test_derive_scaleout.py).
        derive_settings = DeriveSettings(max_step_s=HISTORY_DERIVE_STEP_S)
        deriver = Deriver.from_config(
            store, config, derive_settings, state_dir=state_dir / "derive", anomaly=anomaly
        )
        if derive_from_ns is not None:
            deriver.start_at(derive_from_ns)
    regions = {s.grid_region for s in config.sites.values()}
    service = IngestService(settings, store, devices, deriver=deriver, grid_regions=regions)
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop), name=name)
    status.set(name, State.RUNNING, "validating, batching, writing")
    try:
        yield service
    finally:
        status.set(name, State.STOPPING, "flushing")
        stop.set()
        try:
            await task
            status.set(name, State.STOPPED, "flushed and acknowledged")
        except Exception as exc:  # reported on the status screen and in the exit reason
            status.set(name, State.FAILED, repr(exc))
        finally:
            await store.aclose()


async def retrofit_baseline(
    store_url: str, plan: RetrofitPlan, sim: Simulation, state_dir: Path, status: DemoStatus
) -> None:
    """The retrofit site's year before the history, imported; the retrofit recorded where
    the demo's API reads retrofits (`retrofits.db` beside its key database)."""
    from peakline_cli.demo.baseline import seed_baseline
    from peakline_core.errors import PeaklineError
    from peakline_store.importing import ImportRefused
    from peakline_store.open import open_store

    began = time.monotonic()
    status.add("baseline", f"{plan.site}: a year of interval data before the history")
    status.set("baseline", State.RUNNING, "importing")
    store = open_store(store_url)
    try:
        written = await seed_baseline(
            store, plan, sim.scenario, sim.profiles, state_dir / "retrofits.db", time.time_ns()
        )
    except ImportRefused as exc:  # a reused --state-dir holds live data there: say so, go on
        status.set("baseline", State.STOPPED, f"not imported: {exc}")
        return
    except (PeaklineError, OSError) as exc:  # the store away: the status and the verdict say so
        status.set("baseline", State.FAILED, repr(exc))
        return
    finally:
        await store.aclose()
    status.set(
        "baseline",
        State.STOPPED,
        f"{written} hourly rows imported, retrofit {plan.day} recorded, "
        f"{time.monotonic() - began:.1f} s",
    )


def create_demo_key(keys_db: Path) -> str:
    """An admin key for the demo's operator (printed once on the status screen)."""
    from peakline_api.keys import KeyStore, Role

    with KeyStore(keys_db) as keys:
        created: tuple[object, str] = keys.create("demo operator", Role.ADMIN, ["*"])
    return created[1]


def api_app(
    options: DemoOptions,
    config: PlatformConfig,
    store_url: str,
    broker_url: str,
    state_dir: Path,
    clock_ns: Callable[[], int] | None = None,
) -> FastAPI:
    from peakline_api.app import create_app
    from peakline_api.settings import AlertSettings, ApiSettings

    settings = ApiSettings(
        config_dir=options.config_dir,
        store_url=store_url,
        keys_db=state_dir / "api-keys.db",
        broker_url=broker_url,
        topic_prefix=options.topic_prefix,
        # The history's meter data is one reading per step (5 to 15 minutes): its DR event
        # is verified in 15-minute slots, so that its days' readings meet in the same slots.
        dr_slot_s=DR_SLOT_S if options.history_days > 0 else 60.0,
        # The example rules run, so the alerts page lists what they catch (the office meter's
        # spike is a strong anomaly in the old town); the example channels are placeholders
        # (a WeCom key "REPLACE-ME", a mail relay that is not there): nothing is sent.
        alerts=AlertSettings(enabled=True, interval_s=DEMO_ALERTS_S, deliver=False),
    )
    app: FastAPI = create_app(settings, config=config, clock_ns=clock_ns)
    return app


@contextlib.asynccontextmanager
async def edge_agents(
    config: PlatformConfig, state_dir: Path, status: DemoStatus
) -> AsyncIterator[None]:
    """One edge agent per agent in the config with enabled devices, each with its own spool."""
    from peakline_edge.agent import EdgeAgent

    stop = asyncio.Event()
    tasks: dict[str, asyncio.Task[None]] = {}
    for agent_id in sorted(config.agents):
        devices = config.devices_of(agent_id)
        if not devices:
            continue
        name = f"edge {agent_id}"
        status.add(name, f"{len(devices)} devices -> {config.agents[agent_id].uplink.broker}")
        agent = EdgeAgent(config, agent_id, state_dir / "edge" / agent_id)
        tasks[name] = asyncio.create_task(agent.run(stop), name=name)
        status.set(name, State.RUNNING, ", ".join(d.id for d in devices))
    watch = asyncio.create_task(_watch(tasks, status), name="edge-watch")
    try:
        yield
    finally:
        stop.set()
        for name in tasks:
            status.set(name, State.STOPPING, "flushing its spool")
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        for name, task in tasks.items():
            if not task.cancelled() and task.exception() is not None:
                status.set(name, State.FAILED, repr(task.exception()))
            else:
                status.set(name, State.STOPPED, "spool flushed")


async def _watch(tasks: dict[str, asyncio.Task[None]], status: DemoStatus) -> None:
    """Mark an agent failed as soon as its task ends on its own."""
    pending = set(tasks.values())
    names = {task: name for name, task in tasks.items()}
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                status.set(names[task], State.FAILED, repr(task.exception()))
