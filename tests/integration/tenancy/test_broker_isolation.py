"""The example programme's two cities at a real mosquitto started with the generated password
and ACL files: every gateway of one city is refused every topic of the other city's devices,
both ways (publish telemetry/status/acks, read commands).

mosquitto drops a denied publish silently, so refusal is proven by a watcher with full read
rights receiving a marker published after the forbidden messages on the same connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from peakline_cli.provision import API_USER, Provisioned, provision, render_listeners
from peakline_core.config import PlatformConfig
from peakline_core.wire.topics import Topics
from peakline_testing.servers import Mosquitto, free_port
from tests.unit.api.api_support import example_config

T = Topics("peakline")
DEADLINE_S = 20.0


@pytest.fixture(scope="module")
def programme(repo_root: Path) -> PlatformConfig:
    return example_config(repo_root / "config")


@pytest.fixture
def provisioned(programme: PlatformConfig, tmp_path: Path) -> Provisioned:
    return provision(programme, tmp_path / "out")


@pytest.fixture
def service_port() -> int:
    """The provisioned broker's listener for ingest and the API (devices use `broker.port`)."""
    return free_port()


@pytest.fixture
def broker(provisioned: Provisioned, tmp_path: Path, service_port: int) -> Iterator[Mosquitto]:
    port = free_port()
    config = render_listeners(
        provisioned.acl_file.parent, {f"{port} 127.0.0.1": ""}, f"{service_port} 127.0.0.1"
    ) + ("max_queued_messages 100000\n")  # see tests/integration/deploy/test_broker_acl.py
    with Mosquitto.create(workdir=tmp_path / "broker", extra_config=config, port=port) as server:
        yield server


def _client(
    broker: Mosquitto, provisioned: Provisioned, user: str, port: int | None = None
) -> aiomqtt.Client:
    return aiomqtt.Client(
        broker.host,
        port or broker.port,
        identifier=f"{user}-tenancy",
        username=user,
        password=provisioned.passwords[user],
    )


async def _until_marker(client: aiomqtt.Client, marker: bytes) -> list[tuple[str, bytes]]:
    seen: list[tuple[str, bytes]] = []
    async with asyncio.timeout(DEADLINE_S):
        async for msg in client.messages:
            seen.append((str(msg.topic), bytes(msg.payload)))  # type: ignore[arg-type]
            if msg.payload == marker:
                return seen
    raise AssertionError("message stream ended")


def _city_devices(cfg: PlatformConfig, city: str) -> list[tuple[str, str]]:
    return [(d.site, d.id) for d in cfg.devices.values() if cfg.sites[d.site].city == city]


def _gateways(cfg: PlatformConfig, city: str) -> list[str]:
    return [a.id for a in cfg.agents.values() if cfg.sites[a.site].city == city]


CROSS = [("riverton", "lakeside"), ("lakeside", "riverton")]


@pytest.mark.parametrize(("home", "other"), CROSS)
async def test_gateway_cannot_publish_for_the_other_city(
    programme: PlatformConfig,
    broker: Mosquitto,
    provisioned: Provisioned,
    service_port: int,
    home: str,
    other: str,
) -> None:
    foreign = _city_devices(programme, other)
    own_site, own_device = _city_devices(programme, home)[0]
    assert foreign and _gateways(programme, home)
    async with _client(broker, provisioned, API_USER, service_port) as watcher:
        await watcher.subscribe("peakline/v1/#", qos=1)
        for gateway in _gateways(programme, home):
            async with _client(broker, provisioned, gateway) as gw:
                for site, device in foreign:
                    for topic in (
                        T.telemetry(site, device),
                        T.status(site, device),
                        T.ack(site, device),
                    ):
                        await gw.publish(topic, b"forged", qos=1)
                for agent in _gateways(programme, other):
                    await gw.publish(T.agent(agent), b"forged", qos=1)
                marker = f"marker-{gateway}".encode()
                await gw.publish(T.telemetry(own_site, own_device), marker, qos=1)
            seen = await _until_marker(watcher, marker)
            assert [s for s in seen if s[1] == b"forged"] == []


@pytest.mark.parametrize(("home", "other"), CROSS)
async def test_gateway_never_receives_the_other_citys_commands(
    programme: PlatformConfig,
    broker: Mosquitto,
    provisioned: Provisioned,
    service_port: int,
    home: str,
    other: str,
) -> None:
    own_site, own_device = next(
        (s, d)
        for s, d in _city_devices(programme, home)
        if programme.devices[d].agent == _gateways(programme, home)[0]
    )
    async with (
        _client(broker, provisioned, _gateways(programme, home)[0]) as gw,
        _client(broker, provisioned, API_USER, service_port) as api,
    ):
        await gw.subscribe("peakline/v1/cmd/#", qos=1)
        for site, device in _city_devices(programme, other):
            await gw.subscribe(T.command(site, device), qos=1)
            await api.publish(T.command(site, device), b"theirs", qos=1)
        await api.publish(T.command(own_site, own_device), b"marker", qos=1)
        seen = await _until_marker(gw, b"marker")
    assert [p for _, p in seen] == [b"marker"]
