"""`peakline-edge run --config DIR --agent ID [--state-dir DIR]`: the gateway's service."""

from __future__ import annotations

import asyncio
import faulthandler
import signal
import sys
from pathlib import Path

import structlog
import typer
from prometheus_client import start_http_server

from peakline_core.config import PlatformConfig, load_config
from peakline_core.errors import ConfigError
from peakline_edge.agent import EdgeAgent
from peakline_edge.logs import configure_logging
from peakline_edge.metrics import EdgeMetrics

app = typer.Typer(add_completion=False, help="peakline edge agent")


@app.callback()
def _root() -> None:
    """peakline edge agent: poll devices, spool to disk, publish over MQTT."""


@app.command()
def run(
    config: Path = typer.Option(..., "--config", help="configuration directory"),
    agent: str = typer.Option(..., "--agent", help="agent id in agents.yaml"),
    state_dir: Path = typer.Option(Path("state"), "--state-dir", help="spool and health file"),
    metrics_port: int = typer.Option(0, "--metrics-port", help="Prometheus port (0: off)"),
    metrics_host: str = typer.Option("127.0.0.1", "--metrics-host"),
    log_level: str = typer.Option("info", "--log-level"),
    log_format: str = typer.Option("json", "--log-format", help="json or console"),
) -> None:
    """Run the agent until SIGTERM or SIGINT, then flush and exit."""
    configure_logging(log_level, log_format)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` dumps every thread's stack
    log = structlog.get_logger("peakline.edge")
    try:
        platform = load_config(config)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    metrics = EdgeMetrics()
    server = None
    if metrics_port:
        server, _ = start_http_server(metrics_port, metrics_host, registry=metrics.registry)
        log.info("metrics served", url=f"http://{metrics_host}:{metrics_port}/metrics")
    try:
        asyncio.run(_serve(platform, agent, state_dir, metrics))
    finally:
        if server is not None:
            server.shutdown()


async def _serve(
    platform: PlatformConfig, agent_id: str, state_dir: Path, metrics: EdgeMetrics
) -> None:
    agent = EdgeAgent(platform, agent_id, state_dir, metrics=metrics)  # clients need the loop
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR2, _dump_tasks)  # `kill -USR2 PID`: where is it stuck
    await agent.run(stop)


def _dump_tasks() -> None:
    for task in asyncio.all_tasks():
        task.print_stack(limit=8, file=sys.stderr)


def main() -> None:
    app()
