"""The browser tests' demo fixture survives the free-port race: a dashboard port taken between
the choice and the demo's bind (another test's server on a shared machine) makes the demo say
so and stop; the fixture starts it again on a fresh port and a fresh state directory."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from peakline_testing.servers import free_port
from tests.browser.browser_support import PORT_TAKEN, demo_process

pytestmark = pytest.mark.asyncio


async def test_a_taken_port_is_retried_on_a_fresh_one(tmp_path: Path, repo_root: Path) -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        state = tmp_path / "state"
        async with demo_process(repo_root, port, state, extra=("--no-history",)) as demo:
            assert demo.url and not demo.url.endswith(f":{port}")
            assert PORT_TAKEN not in "".join(demo.lines)  # the lines of the run that started
            async with httpx.AsyncClient(timeout=30) as http:
                assert (await http.get(f"{demo.url}/health")).status_code == 200
