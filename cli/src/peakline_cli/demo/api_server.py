"""Serve an ASGI app (the peakline API) with uvicorn inside our own event loop, optionally over
TLS, as an `async with` lifetime.

uvicorn's `Server.serve()` installs its own SIGINT/SIGTERM handlers; the demo owns signals
itself (one clean shutdown for every component), so they are left alone here.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

from peakline_cli.errors import CliError


class ApiServerError(CliError, RuntimeError):
    """The API server could not start (port taken, bad certificate, app failed its startup)."""


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """PEM certificate (chain) and private key paths for a TLS listener."""

    cert_file: Path
    key_file: Path

    def check(self) -> None:
        for label, path in (("certificate", self.cert_file), ("key", self.key_file)):
            if not Path(path).is_file():
                raise ApiServerError(f"TLS {label} file {path} does not exist")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@contextlib.asynccontextmanager
async def serve_api(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 8000,
    tls: TlsFiles | None = None,
    startup_timeout_s: float = 60.0,
) -> AsyncIterator[str]:
    """Run `app` until the block exits; yields its base URL (http:// or https://)."""
    if tls is not None:
        tls.check()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        ssl_certfile=str(tls.cert_file) if tls else None,
        ssl_keyfile=str(tls.key_file) if tls else None,
    )
    # Bind here: uvicorn would sys.exit() from inside the task on a taken port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ApiServerError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"api:{port}")
    try:
        await _started(server, task, startup_timeout_s, f"{host}:{port}")
        yield f"{'https' if tls else 'http'}://{host}:{port}"
    except BaseException:
        server.should_exit = True
        await asyncio.wait([task])  # its own failure, if any, was reported by _started
        sock.close()
        raise
    server.should_exit = True
    try:
        await task  # a server that crashed while serving raises here
    finally:
        sock.close()


async def _started(
    server: uvicorn.Server, task: asyncio.Task[None], timeout_s: float, where: str
) -> None:
    # uvicorn offers a flag, not an event: check it until the deadline or the task ends.
    try:
        async with asyncio.timeout(timeout_s):
            while not server.started and not task.done():  # noqa: ASYNC110 - no event to await
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise ApiServerError(f"API did not start on {where} in {timeout_s:.0f}s") from None
    if task.done():
        exc = task.exception()
        raise ApiServerError(f"API failed to start on {where}: {exc!r}") from exc
