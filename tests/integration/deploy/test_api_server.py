"""serve_api: the demo's API lifetime. A taken port is a clear error, not a crash, and the
server is really gone after the block."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from peakline_cli.demo.api_server import ApiServerError, serve_api
from peakline_testing.servers import free_port


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


async def test_taken_port_is_reported(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ApiServerError, match=f"cannot listen on 127.0.0.1:{port}"):
            async with serve_api(_app(), port=port):
                pass


async def test_serves_then_releases_the_port() -> None:
    port = free_port()
    async with serve_api(_app(), port=port) as url, httpx.AsyncClient() as client:
        assert (await client.get(f"{url}/health")).json() == {"status": "ok"}
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))  # free again: the server closed its socket
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{port}/health")
