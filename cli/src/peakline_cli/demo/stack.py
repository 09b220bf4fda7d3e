"""The demo's orchestration: simulators -> edge agents -> broker -> ingest -> store -> API, in
one event loop, each an `async with` lifetime, stopped in reverse order on one event.

Started: broker, simulators, ingest, API, edge agents, then two observers: a tap on the
broker (telemetry batches seen) and a store/API probe (readings stored, points served).
Stopped: edge agents first (they flush their spools), then ingest (it acks what it wrote),
then the API, simulators and broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiomqtt
import httpx
from fastapi import FastAPI

from peakline_api.state import state_of
from peakline_cli.demo import services
from peakline_cli.demo.api_server import serve_api
from peakline_cli.demo.baseline import RetrofitPlan, plan_retrofit
from peakline_cli.demo.broker import embedded_broker
from peakline_cli.demo.dr_event import DR_SITE, HistoryEvent, demo_clock, event_window
from peakline_cli.demo.history import backfill
from peakline_cli.demo.plan import DemoError, DemoOptions, describe_store, rewire, store_url
from peakline_cli.demo.status import NS, DemoStatus, HistoryProgress, State
from peakline_core.config import PlatformConfig, load_config
from peakline_core.errors import ConfigError
from peakline_core.storage import Aggregate, SeriesQuery
from peakline_core.storage.schema import READING
from peakline_core.wire.broker import redact_url
from peakline_core.wire.topics import TopicKind, Topics

if TYPE_CHECKING:
    from firmware_sim.runtime import Simulation
    from peakline_ingest.service import IngestService

PROBE_INTERVAL_S = 2.0
DAY_NS = 86_400 * 10**9


async def run_demo(
    options: DemoOptions, state_dir: Path, status: DemoStatus, stop: asyncio.Event
) -> None:
    """Run everything until `stop` is set (Ctrl-C, or the end of --duration)."""
    options.check()
    try:
        config = load_config(options.config_dir)
    except ConfigError as exc:
        raise DemoError(str(exc)) from None
    started_ns = time.time_ns()
    history_start: datetime | None = None
    retrofit: RetrofitPlan | None = None
    if options.history_days > 0:
        now = datetime.now(UTC).replace(microsecond=0)
        # on an hour: the retrofit site's imported hours end where its live history begins
        history_start = (now - timedelta(days=options.history_days)).replace(minute=0, second=0)
        retrofit = plan_retrofit(config, history_start, now)
    async with contextlib.AsyncExitStack() as stack:
        broker_url = await stack.enter_async_context(_broker(options, status))
        sim = await stack.enter_async_context(
            services.simulators(options, config, broker_url, status, history_start, retrofit)
        )
        demo_config = rewire(
            config, broker_url, options.topic_prefix, services.modbus_endpoints(sim)
        )
        store = store_url(options, state_dir)
        await services.prepare_store(store)
        key = services.create_demo_key(state_dir / "api-keys.db")
        status.api_key = key
        # With a history, the API lives on the simulator's clock until it runs live, so that
        # its DR service runs the history's event at its time (dr_event).
        clock = demo_clock(sim.clock) if history_start is not None else None
        app = services.api_app(options, demo_config, store, broker_url, state_dir, clock)
        scheme = "https" if options.tls else "http"
        status.add("api", f"{scheme}://{options.host}:{options.port}")
        stack.callback(status.set, "api", State.STOPPED)
        base = await stack.enter_async_context(
            serve_api(app, options.host, options.port, options.tls)
        )
        status.set("api", State.RUNNING, "dashboard, REST API, live stream")
        status.dashboard_url = f"{base}/"
        derive_from: int | None = None
        if history_start is not None:
            progress = HistoryProgress(
                int(history_start.timestamp()) * NS,
                time.time_ns(),
                int(history_start.timestamp()) * NS,
            )
            status.history = progress
            event = _dr_event(app, demo_config, history_start, status)
            if not await _history(
                options, sim, demo_config, broker_url, store, state_dir, status, stop, event
            ):
                return
            if event is not None:
                status.set("dr event", State.STOPPED, event.outcome())
            derive_from = progress.shortened_from_ns or progress.start_ns
            sim.clock.release(time.time_ns())  # from here on the simulators run live
            for handle in services.live_faults(sim):
                stack.callback(handle.cancel)
        status.add("ingest", describe_store(store))
        live_ingest = await stack.enter_async_context(
            services.ingest(
                demo_config,
                broker_url,
                options.topic_prefix,
                store,
                state_dir,
                status,
                mqtt5=options.broker is not None,
                derive_from_ns=derive_from,
            )
        )
        if status.history is not None:
            derived = asyncio.Event()
            stack.enter_context(_follow_deriver(live_ingest, status, derived))
            if retrofit is not None:
                # Once the dashboard is populated: the imported year ends where the live
                # history begins (no overlap either way), and its import and roll-ups would
                # otherwise hold up the backfill and the deriver's catch-up by ~15 s.
                seeding = asyncio.create_task(
                    _after(
                        derived, services.retrofit_baseline(store, retrofit, sim, state_dir, status)
                    ),
                    name="retrofit-baseline",
                )
                stack.push_async_callback(_cancel, seeding)
        await stack.enter_async_context(services.edge_agents(demo_config, state_dir, status))
        await stack.enter_async_context(_tap(broker_url, options.topic_prefix, status))
        await stack.enter_async_context(
            _probe(store, base, key, started_ns - DAY_NS // 24, options, status)
        )
        await stop.wait()
        for name in status.components:
            if status.components[name].state is State.RUNNING:
                status.set(name, State.STOPPING)


async def _history(
    options: DemoOptions,
    sim: Simulation,
    config: PlatformConfig,
    broker_url: str,
    store: str,
    state_dir: Path,
    status: DemoStatus,
    stop: asyncio.Event,
    event: HistoryEvent | None = None,
) -> bool:
    """The backfill with its own store-only ingest worker; False when stopped during it."""
    assert status.history is not None
    status.add("history", f"{options.history_days:g} simulated days through the real path")
    status.add("history ingest", describe_store(store) + " (no deriver)")
    async with services.ingest(
        config,
        broker_url,
        options.topic_prefix,
        store,
        state_dir,
        status,
        mqtt5=options.broker is not None,
        derive=False,
        name="history ingest",
    ) as service:
        work = asyncio.create_task(
            backfill(
                sim,
                config,
                service,
                state_dir,
                status,
                status.history,
                options.history_wall_s,
                event,
            ),
            name="history",
        )
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait([work, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            status.set("history", State.STOPPED, "interrupted")
            return False
        if work.exception() is not None:
            status.set("history", State.FAILED, repr(work.exception()))
            return False
    return True


def _dr_event(
    app: FastAPI, config: PlatformConfig, history_start: datetime, status: DemoStatus
) -> HistoryEvent | None:
    """The history's demand-response event, run by the API's own DR service (None when the
    config has no such site or the history is too short for one)."""
    site = config.sites.get(DR_SITE)
    if site is None or not site.flexibility:
        return None
    window = event_window(history_start, datetime.now(UTC), site.timezone)
    if window is None:
        return None
    status.add("dr event", f"{DR_SITE} {window[0]:%Y-%m-%d %H:%M}-{window[1]:%H:%M} UTC")
    status.set("dr event", State.STOPPED, "planned from the site's flexibility at its start")
    state = state_of(app)
    return HistoryEvent(state.dr, state.control, *window)


async def _after(event: asyncio.Event, work: Coroutine[Any, Any, None]) -> None:
    try:
        await event.wait()
    except asyncio.CancelledError:
        work.close()  # never started
        raise
    await work


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@contextlib.contextmanager
def _follow_deriver(
    service: IngestService, status: DemoStatus, derived: asyncio.Event
) -> Iterator[None]:
    """Show the live deriver catching up through the stored history."""
    progress = status.history
    assert progress is not None
    began = time.monotonic()

    async def follow() -> None:
        progress.phase = "deriving"
        while True:
            deriver = service.deriver
            if deriver is not None and deriver.watermark is not None:
                progress.derive_at_ns = deriver.watermark
                if time.time_ns() - deriver.watermark < 60 * NS:
                    progress.phase = "derived"
                    derived.set()
                    progress.derive_at_ns = None
                    status.set(
                        "history",
                        State.STOPPED,
                        f"{progress.describe()}: stored in {progress.wall_s:.0f} s, derived "
                        f"and scored in {time.monotonic() - began:.0f} s more",
                    )
                    return
            await asyncio.sleep(0.5)

    task = asyncio.create_task(follow(), name="history-deriver")
    try:
        yield
    finally:
        task.cancel()


def _free_port(host: str) -> int:
    """A TCP port that was free a moment ago on `host` (the embedded broker's)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def _broker(options: DemoOptions, status: DemoStatus) -> AsyncIterator[str]:
    if options.broker is not None:
        status.add("broker", options.broker)
        await _check_broker(options.broker)
        status.set("broker", State.RUNNING, "external")
        yield options.broker
        status.set("broker", State.STOPPED)
        return
    port = _free_port(options.host)
    comp = status.add("broker", f"mqtt://{options.host}:{port}")
    async with embedded_broker(options.host, port) as url:
        status.set("broker", State.RUNNING, "embedded amqtt (MQTT 3.1.1, anonymous)")
        yield url
    comp.state = State.STOPPED


async def _check_broker(url: str) -> None:
    parts = urlsplit(url)
    try:
        async with aiomqtt.Client(
            parts.hostname or "127.0.0.1",
            parts.port or 1883,
            username=parts.username,
            password=parts.password,
            timeout=10,
        ):
            pass
    except aiomqtt.MqttError as exc:
        raise DemoError(f"cannot connect to the broker {redact_url(url)}: {exc}") from None


@contextlib.asynccontextmanager
async def _tap(broker_url: str, prefix: str, status: DemoStatus) -> AsyncIterator[None]:
    """Count telemetry batches crossing the broker (tells an edge fault from an ingest one)."""
    parts = urlsplit(broker_url)
    topics = Topics(prefix)
    status.add("tap", f"{broker_url} {topics.filter(TopicKind.TELEMETRY)}")

    async def follow() -> None:
        # A diagnostic: a broker too busy to answer in time (a loaded machine) is retried,
        # never a reason for the demo to fail.
        seen = 0
        while True:
            try:
                async with aiomqtt.Client(
                    parts.hostname or "127.0.0.1",
                    parts.port or 1883,
                    identifier=f"peakline-demo-tap-{id(status):x}",
                ) as client:
                    await client.subscribe(topics.filter(TopicKind.TELEMETRY), qos=0)
                    status.set("tap", State.RUNNING, f"{seen} telemetry batches seen")
                    async for _ in client.messages:
                        seen += 1
                        status.components["tap"].detail = f"{seen} telemetry batches seen"
            except aiomqtt.MqttError as exc:
                status.set("tap", State.STARTING, f"reconnecting: {exc}")
                await asyncio.sleep(1.0)

    task = asyncio.create_task(follow(), name="demo-tap")
    try:
        yield
    finally:
        task.cancel()
        # an observer: a broker too busy to answer its DISCONNECT in time (seen on the loaded
        # 2-core machine) does not fail the demo's exit
        with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
            await task
        status.set("tap", State.STOPPED)


@contextlib.asynccontextmanager
async def _probe(
    store_url_: str,
    api_base: str,
    key: str,
    since_ns: int,
    options: DemoOptions,
    status: DemoStatus,
) -> AsyncIterator[None]:
    """Every few seconds: how many readings are stored, and does the API serve them."""
    from peakline_store.open import open_store

    store = open_store(store_url_)
    verify: bool | str = True
    if options.tls is not None:
        verify = False  # our own loopback server; its certificate is the operator's
    client = httpx.AsyncClient(
        base_url=api_base, headers={"Authorization": f"Bearer {key}"}, verify=verify, timeout=10
    )

    async def probe_once() -> None:
        end_ns = time.time_ns() + DAY_NS
        count_query = SeriesQuery(
            READING, "value", since_ns, end_ns, every_ns=DAY_NS, aggregate=Aggregate.COUNT
        )
        series = await store.query(count_query)
        count = sum(int(v) for s in series for v in s.values if v is not None)
        status.record_stored(count, len(series))
        resp = await client.get("/api/v1/readings/latest", params={"limit": 1})
        if resp.status_code == 200:
            status.api_readings = int(resp.json().get("total", 0))
        else:
            status.problems.append(f"API /api/v1/readings/latest answered {resp.status_code}")

    async def loop() -> None:
        while True:
            try:
                await probe_once()
            except (httpx.HTTPError, OSError) as exc:
                status.problems.append(f"probe: {exc!r}")
            await asyncio.sleep(PROBE_INTERVAL_S)

    task = asyncio.create_task(loop(), name="demo-probe")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(httpx.HTTPError, OSError):
            await probe_once()  # the final count, after the edge flushed
        await client.aclose()
        await store.aclose()


def flow_verdict(status: DemoStatus) -> str | None:
    """None when data flowed end to end, else the first stage where it stopped."""
    failed = status.failed()
    if failed:
        return "; ".join(f"{c.name} failed: {c.detail}" for c in failed)
    tap = status.components.get("tap")
    if status.readings_stored == 0:
        if tap is not None and tap.detail.startswith("0 "):
            return "no telemetry reached the broker: the edge agents published nothing"
        return "telemetry crossed the broker but no reading reached the store (ingest)"
    if status.api_readings == 0:
        return "readings are stored but the API served none of them"
    return None
