"""`peakline demo`: run the example district end to end with a live status display.

Exit codes: 0 when data flowed end to end (with --duration) or after a clean Ctrl-C;
1 when it did not (the reason is printed); 2 when the demo could not start.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.live import Live

from peakline_cli.demo.api_server import ApiServerError, TlsFiles
from peakline_cli.demo.broker import EmbeddedBrokerError
from peakline_cli.demo.plan import DemoError, DemoOptions
from peakline_cli.demo.stack import flow_verdict, run_demo
from peakline_cli.demo.status import ALERTS_NOTE, DemoStatus, render, summary_line

PLAIN_EVERY_S = 5.0


def demo_command(
    duration: Annotated[
        float | None,
        typer.Option(help="run this many seconds, then exit 0 only if data flowed end to end"),
    ] = None,
    port: Annotated[int, typer.Option(help="API and dashboard port")] = 8000,
    host: Annotated[str, typer.Option(help="API bind address (loopback)")] = "127.0.0.1",
    broker: Annotated[
        str | None,
        typer.Option(envvar="PEAKLINE_BROKER", help="mqtt://host:port (default: embedded broker)"),
    ] = None,
    influx: Annotated[
        str | None,
        typer.Option(envvar="PEAKLINE_INFLUX", help="http://host:8086 (default: SQLite store)"),
    ] = None,
    influx_db: Annotated[str, typer.Option(envvar="PEAKLINE_INFLUX_DB")] = "peakline_demo",
    influx_token: Annotated[
        str | None, typer.Option(envvar="PEAKLINE_INFLUX_TOKEN", help="InfluxDB 2.x v1 auth")
    ] = None,
    config: Annotated[Path, typer.Option(help="configuration directory")] = Path("config"),
    scenario: Annotated[
        Path | None, typer.Option(help="firmware-sim scenario (default: config/scenarios/)")
    ] = None,
    topic_prefix: Annotated[str, typer.Option(envvar="PEAKLINE_TOPIC_PREFIX")] = "peakline",
    state_dir: Annotated[
        Path | None, typer.Option(help="keep spools, store and logs here (default: temporary)")
    ] = None,
    tls_cert: Annotated[Path | None, typer.Option(help="serve the API over HTTPS")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="private key for --tls-cert")] = None,
    history: Annotated[
        bool,
        typer.Option(
            "--history/--no-history",
            help="start with past days run through the real path at accelerated time",
        ),
    ] = True,
    history_days: Annotated[
        float, typer.Option(help="simulated days of history (shortened to fit the budget)")
    ] = 7.0,
    history_budget: Annotated[
        float,
        typer.Option(
            help="wall seconds for the history before going live (at most a third of --duration)"
        ),
    ] = 40.0,
) -> None:
    """Run the example district end to end: simulators -> edge -> broker -> ingest -> store
    -> API and dashboard, with a live status display. Ctrl-C stops it cleanly."""
    if (tls_cert is None) != (tls_key is None):
        typer.echo("--tls-cert and --tls-key go together", err=True)
        raise typer.Exit(2)
    options = DemoOptions(
        config_dir=config,
        scenario=scenario,
        host=host,
        port=port,
        broker=broker,
        influx=influx,
        influx_db=influx_db,
        influx_token=influx_token,
        topic_prefix=topic_prefix,
        state_dir=state_dir,
        duration_s=duration,
        tls=TlsFiles(tls_cert, tls_key) if tls_cert and tls_key else None,
        history_days=history_days if history else 0.0,
        history_budget_s=history_budget,
    )
    raise typer.Exit(run(options, Console(stderr=False)))


def run(options: DemoOptions, console: Console) -> int:
    """Run the demo in a fresh event loop; returns the exit code."""
    if options.state_dir is not None:
        options.state_dir.mkdir(parents=True, exist_ok=True)
        return _run_in(options, options.state_dir, console)
    with tempfile.TemporaryDirectory(prefix="peakline-demo-") as tmp:
        return _run_in(options, Path(tmp), console)


def _run_in(options: DemoOptions, state_dir: Path, console: Console) -> int:
    log_file = _quiet_logs(state_dir / "demo.log")
    status = DemoStatus()
    try:
        code = asyncio.run(_main(options, state_dir, status, console))
    except (DemoError, ApiServerError, EmbeddedBrokerError, BaseExceptionGroup) as exc:
        reasons = _start_errors(exc)
        if not reasons:
            raise
        for reason in reasons:
            console.print(f"[bold red]peakline demo could not start:[/] {reason}", soft_wrap=True)
        if options.state_dir is not None:
            console.print(f"logs: {state_dir / 'demo.log'}")
        return 2
    finally:
        log_file.close()
    return code


_START_ERRORS = (DemoError, ApiServerError, EmbeddedBrokerError)


def _start_errors(exc: BaseException) -> list[BaseException]:
    """The start-up errors in `exc`, or [] when anything else is in it.

    The API server and the broker start inside task groups, so a taken port arrives as an
    exception group around the `ApiServerError`; only a group made wholly of start-up errors
    is a clean exit 2, anything else is a bug and keeps its traceback.
    """
    if isinstance(exc, _START_ERRORS):
        return [exc]
    if isinstance(exc, BaseExceptionGroup):
        leaves = [leaf for inner in exc.exceptions for leaf in _start_errors(inner)]
        whole = all(_start_errors(inner) for inner in exc.exceptions)
        return leaves if whole else []
    return []


async def _main(options: DemoOptions, state_dir: Path, status: DemoStatus, console: Console) -> int:
    stop = asyncio.Event()
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        interrupted.set()
        stop.set()
        # A second Ctrl-C while shutting down kills the process the usual way.
        loop.remove_signal_handler(signal.SIGINT)

    loop.add_signal_handler(signal.SIGINT, on_signal)
    loop.add_signal_handler(signal.SIGTERM, on_signal)
    if options.duration_s is not None:
        loop.call_later(options.duration_s, stop.set)
    demo = asyncio.create_task(run_demo(options, state_dir, status, stop), name="demo")
    display = asyncio.create_task(_display(status, console, demo), name="display")
    try:
        await demo
    finally:
        display.cancel()
        await asyncio.gather(display, return_exceptions=True)
        loop.remove_signal_handler(signal.SIGTERM)
    console.print(summary_line(status), soft_wrap=True)
    verdict = flow_verdict(status)
    if verdict is None:
        console.print(
            f"[bold green]data flowed end to end:[/] {status.readings_stored} readings stored "
            f"in {status.series_stored} series, {status.api_readings} points served by the API; "
            f"first reading stored {status.first_reading_after_s or 0:.1f} s after start",
            soft_wrap=True,
        )
        return 0
    if interrupted.is_set() and options.duration_s is None:
        console.print(f"stopped; {verdict}", soft_wrap=True)
        return 0
    console.print(f"[bold red]no end-to-end data flow:[/] {verdict}", soft_wrap=True)
    return 1


async def _display(status: DemoStatus, console: Console, demo: asyncio.Task[None]) -> None:
    """A live panel on a terminal; a status line every few seconds otherwise (CI, pipes)."""
    if console.is_terminal:
        with Live(render(status), console=console, refresh_per_second=4, transient=False) as live:
            try:
                while not demo.done():
                    live.update(render(status))
                    await asyncio.sleep(0.25)
            finally:
                live.update(render(status), refresh=True)  # the final states stay on screen
        return
    announced = False
    phase = ""
    while not demo.done():
        if status.history is not None and status.history.phase != phase:
            phase = status.history.phase
            history = status.components.get("history")
            detail = f" ({history.detail})" if history is not None and history.detail else ""
            console.print(f"history: {status.history.describe()}, {phase}{detail}")
        if not announced and status.dashboard_url:
            console.print(f"dashboard: {status.dashboard_url}", soft_wrap=True)
            console.print(f"API key (paste into the dashboard): {status.api_key}", soft_wrap=True)
            console.print(ALERTS_NOTE, soft_wrap=True)
            announced = True
        console.print(summary_line(status), soft_wrap=True)
        await asyncio.sleep(PLAIN_EVERY_S)


class _Closable:
    def __init__(self, handler: logging.Handler) -> None:
        self.handler = handler

    def close(self) -> None:
        logging.getLogger().removeHandler(self.handler)
        self.handler.close()


def _quiet_logs(path: Path) -> _Closable:
    """Components log through logging/structlog; send it all to a file so the live display
    stays readable (`--state-dir` keeps it)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"]),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    print(f"peakline demo: logs in {path}", file=sys.stderr)
    return _Closable(handler)
