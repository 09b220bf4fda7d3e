"""A whole control path on loopback: Modbus TCP peers (an HVAC controller, a read-only twin and
an unreachable one), the real edge agent as a subprocess, a real mosquitto, and the real API
app (in-process, over ASGI) with its ledger; plus a raw MQTT client for forced commands."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import yaml

from peakline_api.app import create_app
from peakline_api.keys import KeyStore, Role
from peakline_api.settings import ApiSettings
from peakline_core.storage import Store
from peakline_testing.configs import agent, site, write_config_dir
from peakline_testing.modbus_peer import Peer, Unit, modbus_peer
from peakline_testing.waiting import eventually
from tests.integration.edge.edge_harness import AgentProcess
from tests.unit.api.api_fakes import MemoryStore
from tests.unit.api.api_support import example_config

REPO = Path(__file__).resolve().parents[3]
SETPOINT, RUNNING = 100, 0  # holding / coil addresses in config/profiles/hvac-controller.yaml


def hvac_unit(setpoint_c: float = 21.0) -> Unit:
    """A peer unit implementing every register of the repository's hvac-controller map."""
    profile = yaml.safe_load((REPO / "config/profiles/hvac-controller.yaml").read_text())
    unit = Unit()
    for point in profile["points"]:
        table = getattr(unit, point["table"])
        width = {"int32": 2, "uint32": 2, "float32": 2}.get(point["dtype"], 1)
        for address in range(point["address"], point["address"] + width):
            table.setdefault(address, 0)
    unit.holding[SETPOINT] = round(setpoint_c * 10)
    unit.input[0], unit.input[1] = 215, 1200
    unit.coil[RUNNING] = 1
    return unit


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(root: Path, broker: str, prefix: str, ports: dict[str, int]) -> Path:
    (root / "profiles").mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "config/profiles/hvac-controller.yaml", root / "profiles")

    def device(name: str, port: int, **extra: Any) -> dict[str, Any]:
        return {
            "id": name, "site": "s1", "agent": "gw1", "profile": "hvac-controller",
            "poll_interval_s": 0.5,
            "connection": {"driver": "modbus-tcp", "host": "127.0.0.1", "port": port,
                           "timeout_s": 0.3, "retries": 0},
            **extra,
        }  # fmt: skip

    devices = [
        device("hvac1", ports["hvac1"]),
        device("hvac-ro", ports["hvac-ro"], read_only=True),
        device("hvac-gone", ports["hvac-gone"]),
    ]
    return write_config_dir(
        root, sites=[site()], agents=[agent(broker, prefix, site="s1")], devices=devices
    )


@dataclass
class Rig:
    api: httpx.AsyncClient
    token: str
    agent: AgentProcess
    peers: dict[str, Peer]
    mqtt: aiomqtt.Client
    prefix: str
    heard: list[tuple[str, bytes]] = field(default_factory=list)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def command(self, **body: Any) -> httpx.Response:
        data = {"site": "s1", "device": "hvac1", "point": "setpoint", "expires_in_s": 20, **body}
        return await self.api.post("/api/v1/commands", json=data, headers=self.auth)

    async def status(self, command_id: str) -> dict[str, Any]:
        r = await self.api.get(f"/api/v1/commands/{command_id}", headers=self.auth)
        assert r.status_code == 200, r.text
        result: dict[str, Any] = r.json()
        return result

    async def until_state(
        self, command_id: str, states: set[str], timeout_s: float = 30.0
    ) -> dict[str, Any]:
        """Poll the API (with a deadline) until the command is in one of `states`."""
        seen: dict[str, Any] = {}

        async def refresh() -> bool:
            seen.update(await self.status(command_id))
            return seen["state"] in states

        await eventually(refresh, timeout_s, f"command {command_id} in {states}", every_s=0.1)
        return seen

    def heard_on(self, kind: str, device: str) -> list[bytes]:
        topic = f"{self.prefix}/v1/{kind}/s1/{device}"
        return [p for t, p in self.heard if t == topic]


async def _listen(client: aiomqtt.Client, heard: list[tuple[str, bytes]]) -> None:
    async for message in client.messages:
        assert isinstance(message.payload, bytes)
        heard.append((str(message.topic), message.payload))


@asynccontextmanager
async def control_rig(
    tmp_path: Path, broker_url: str, host: str, port: int, prefix: str
) -> AsyncIterator[Rig]:
    async with AsyncExitStack() as stack:
        peers = {
            "hvac1": await stack.enter_async_context(modbus_peer({1: hvac_unit()})),
            "hvac-ro": await stack.enter_async_context(modbus_peer({1: hvac_unit()})),
        }
        ports = {name: p.port for name, p in peers.items()} | {"hvac-gone": closed_port()}
        root = write_config(tmp_path / "config", broker_url, prefix, ports)
        mqtt = await stack.enter_async_context(aiomqtt.Client(host, port))
        await mqtt.subscribe(f"{prefix}/v1/#", qos=1)
        heard: list[tuple[str, bytes]] = []
        listener = asyncio.create_task(_listen(mqtt, heard))
        stack.callback(listener.cancel)
        agent = AgentProcess(root, tmp_path / "state", tmp_path / "agent.log")
        agent.start()
        stack.callback(agent.stop_quietly)
        keys_db = tmp_path / "keys.db"
        with KeyStore(keys_db) as keys:
            token = keys.create("op", Role.OPERATOR, ["c1"])[1]
        settings = ApiSettings(
            config_dir=root, store_url="memory:", keys_db=keys_db, broker_url=broker_url,
            topic_prefix=prefix, dashboard=False,
        )  # fmt: skip
        app = create_app(settings, store=MemoryStore(), config=example_config(root))
        await stack.enter_async_context(app.router.lifespan_context(app))
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
        )
        rig = Rig(client, token, agent, peers, mqtt, prefix, heard)
        await eventually(
            lambda: app.state.peakline.control.client is not None, 30, "API control connection"
        )
        # Telemetry is drained only after the agent subscribed to its command topics.
        await eventually(lambda: bool(rig.heard_on("tele", "hvac1")), 30, "hvac1 telemetry")
        yield rig


async def operator_api(
    stack: AsyncExitStack,
    root: Path,
    tmp_path: Path,
    broker_url: str,
    topic_prefix: str,
    store: Store,
) -> httpx.AsyncClient:
    """The API (lifespan entered on `stack`) over `store` with a city-c1 operator's client,
    returned once its command connection to the broker is up."""
    keys_db = tmp_path / "keys.db"
    with KeyStore(keys_db) as keys:
        token = keys.create("op", Role.OPERATOR, ["c1"])[1]
    settings = ApiSettings(
        config_dir=root, store_url="sqlite:///unused", keys_db=keys_db,
        broker_url=broker_url, topic_prefix=topic_prefix, dashboard=False,
    )  # fmt: skip
    app = create_app(settings, store=store, config=example_config(root))
    await stack.enter_async_context(app.router.lifespan_context(app))
    client = await stack.enter_async_context(
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api",
            headers={"Authorization": f"Bearer {token}"},
        )
    )
    await eventually(
        lambda: app.state.peakline.control.client is not None, 30, "API control connection"
    )
    return client
