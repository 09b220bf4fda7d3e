"""The generated password and ACL files, loaded by a real mosquitto: a gateway can publish and
read only its own devices' topics, never another device's or another city's.

mosquitto drops a denied publish silently (QoS 0/1), so refusal is proven by a subscriber with
full read rights: it gets a marker published after the forbidden message on the same
connection, and never the forbidden one. A denied subscription gets a failure reason code.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
from paho.mqtt.reasoncodes import ReasonCode

from firmware_sim import MqttLogin, Scenario, load_profiles, run
from peakline_cli.provision import API_USER, INGEST_USER, Provisioned, provision, render_listeners
from peakline_core.wire.topics import TopicKind, Topics
from peakline_testing.servers import Mosquitto, free_port
from peakline_testing.waiting import wait_until

T = Topics("peakline")
DEADLINE_S = 20.0
PROFILES = Path(__file__).resolve().parents[3] / "config" / "profiles"


@pytest.fixture
def provisioned(district, tmp_path: Path) -> Provisioned:  # type: ignore[no-untyped-def]
    return provision(district, tmp_path / "out")


@dataclass
class ProvisionedBroker:
    """mosquitto with the listeners `peakline provision` writes: `port` for devices,
    `service_port` for ingest and the API."""

    server: Mosquitto
    service_port: int

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return self.server.url

    def port_for(self, user: str) -> int:
        return self.service_port if user in (API_USER, INGEST_USER) else self.port


@pytest.fixture
def broker(provisioned: Provisioned, tmp_path: Path) -> Iterator[ProvisionedBroker]:
    port, service_port = free_port(), free_port()
    config = render_listeners(
        provisioned.acl_file.parent, {f"{port} 127.0.0.1": ""}, f"{service_port} 127.0.0.1"
    ) + (
        # mosquitto 2.0.11 with max_queued_messages 0 (the fixture default) drops a client
        # right after refusing its QoS 1 publish; production brokers set a finite queue.
        "max_queued_messages 100000\n"
    )
    with Mosquitto.create(workdir=tmp_path / "broker", extra_config=config, port=port) as server:
        wait_until(lambda: _port_open(server.host, service_port), DEADLINE_S, "service listener")
        yield ProvisionedBroker(server, service_port)


def _port_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _client(
    broker: ProvisionedBroker,
    provisioned: Provisioned,
    user: str,
    protocol: aiomqtt.ProtocolVersion = aiomqtt.ProtocolVersion.V5,
    *,
    identifier: str | None = None,
    port: int | None = None,
    clean_start: bool | None = None,
) -> aiomqtt.Client:
    session = {} if clean_start is None else {"clean_start": clean_start}
    return aiomqtt.Client(
        broker.host,
        port or broker.port_for(user),
        identifier=identifier or f"{user}-test",
        username=user,
        password=provisioned.passwords[user],
        protocol=protocol,
        **session,  # type: ignore[arg-type]
    )


async def _first_with(client: aiomqtt.Client, marker: bytes) -> list[tuple[str, bytes]]:
    """Every message received up to and including the one whose payload is `marker`."""
    seen: list[tuple[str, bytes]] = []
    async with asyncio.timeout(DEADLINE_S):
        async for msg in client.messages:
            seen.append((str(msg.topic), bytes(msg.payload)))  # type: ignore[arg-type]
            if msg.payload == marker:
                return seen
    raise AssertionError("message stream ended")


@pytest.fixture
async def watcher(
    broker: ProvisionedBroker, provisioned: Provisioned
) -> AsyncIterator[aiomqtt.Client]:
    """The API service account: reads everything under the prefix."""
    async with _client(broker, provisioned, API_USER) as client:
        await client.subscribe("peakline/v1/#", qos=1)
        yield client


@pytest.mark.parametrize(
    ("protocol", "qos"),
    # MQTT 5 answers a denied QoS 1 publish with PUBACK 0x87, MQTT 3.1.1 with a plain PUBACK;
    # both drop the message.
    [
        (aiomqtt.ProtocolVersion.V311, 1),
        (aiomqtt.ProtocolVersion.V5, 1),
        (aiomqtt.ProtocolVersion.V5, 0),
    ],
)
async def test_gateway_cannot_publish_as_another_device(
    broker: ProvisionedBroker,
    provisioned: Provisioned,
    watcher: aiomqtt.Client,
    protocol: aiomqtt.ProtocolVersion,
    qos: int,
) -> None:
    forbidden = [
        T.telemetry("lk-hall", "hall-meter"),  # another city's device
        T.status("lk-hall", "hall-meter"),
        T.agent("gw-lake"),  # another gateway's birth/will
        T.command("rt-school", "school-meter"),  # commands come from the platform only
        T.telemetry("lk-hall", "school-meter"),  # own device id under a foreign site
    ]
    own = T.telemetry("rt-school", "school-meter")
    async with _client(broker, provisioned, "gw-river", protocol) as river:
        await river.publish(own, b"own", qos=1)
        for topic in forbidden:
            await river.publish(topic, b"forged", qos=qos)
        await river.publish(T.ack("rt-school", "school-pv"), b"marker", qos=1)
    seen = await _first_with(watcher, b"marker")
    assert (own, b"own") in seen
    assert [s for s in seen if s[1] == b"forged"] == []


async def test_gateway_reads_only_its_own_commands(
    broker: ProvisionedBroker, provisioned: Provisioned
) -> None:
    async with (
        _client(broker, provisioned, "gw-river") as river,
        _client(broker, provisioned, API_USER) as api,
    ):
        # mosquitto 2.0 grants any subscription and checks read access per delivered message
        # (newer brokers may refuse it at SUBACK): either way nothing foreign must arrive.
        await river.subscribe(T.command("lk-hall", "hall-meter"), qos=1)
        await river.subscribe("peakline/v1/cmd/#", qos=1)
        granted = await river.subscribe(T.command("rt-school", "school-meter"), qos=1)
        assert not _failed(granted), granted
        await api.publish(T.command("lk-hall", "hall-meter"), b"theirs", qos=1)
        await api.publish(T.command("rt-school", "school-pv"), b"own-other", qos=1)
        await api.publish(T.command("rt-school", "school-meter"), b"marker", qos=1)
        seen = await _first_with(river, b"marker")
    payloads = [payload for _, payload in seen]
    assert b"theirs" not in payloads
    assert b"own-other" in payloads  # its other device's commands do arrive


async def test_ingest_shared_subscription_receives_telemetry(
    broker: ProvisionedBroker, provisioned: Provisioned
) -> None:
    async with (
        _client(broker, provisioned, INGEST_USER) as ingest,
        _client(broker, provisioned, "gw-lake") as lake,
    ):
        codes = await ingest.subscribe(T.shared("ingest", T.filter(TopicKind.TELEMETRY)), qos=1)
        assert not _failed(codes), codes
        await lake.publish(T.telemetry("lk-hall", "hall-meter"), b"marker", qos=1)
        seen = await _first_with(ingest, b"marker")
    assert seen[-1][0] == T.telemetry("lk-hall", "hall-meter")


@pytest.mark.parametrize("password", ["wrong", None])
async def test_wrong_or_missing_password_is_refused(
    broker: ProvisionedBroker, password: str | None
) -> None:
    client = aiomqtt.Client(
        broker.host, broker.port, username="gw-river" if password else None, password=password
    )
    with pytest.raises(aiomqtt.MqttError):
        async with client:
            pass


def _failed(codes: tuple[int, ...] | list[ReasonCode]) -> bool:
    return any((c.is_failure if isinstance(c, ReasonCode) else c >= 0x80) for c in codes)


async def test_simulated_sensor_publishes_with_its_provisioned_login(
    broker: ProvisionedBroker, provisioned: Provisioned, tmp_path: Path
) -> None:
    """firmware-sim's MQTT sensors log in like the real sensor would (the compose trial), and
    the sensor's gateway, allowed to read that topic, receives them."""
    user = "sensor-school-air"
    password_file = tmp_path / "sensor.pw"
    password_file.write_text(provisioned.passwords[user] + "\n")
    scenario = Scenario.model_validate(
        {
            "speed": 60,
            "devices": [
                {
                    "id": "school-air",
                    "profile": "air-sensor",
                    "listen": {"driver": "mqtt", "topic": "sensors/rt-school/air"},
                }
            ],
        }
    )
    login = MqttLogin.from_file(user, password_file)
    async with _client(broker, provisioned, "gw-river") as gateway:
        await gateway.subscribe("sensors/rt-school/air", qos=1)
        async with run(scenario, load_profiles(PROFILES), mqtt_url=broker.url, mqtt_login=login):
            async with asyncio.timeout(DEADLINE_S):
                msg = await anext(aiter(gateway.messages))
    assert str(msg.topic) == "sensors/rt-school/air"
    assert b"co2" in bytes(msg.payload)  # type: ignore[arg-type]


async def test_simulated_sensor_with_a_wrong_password_reports_why(
    broker: ProvisionedBroker, tmp_path: Path
) -> None:
    scenario = Scenario.model_validate(
        {"devices": [{"id": "school-air", "profile": "air-sensor", "listen": {"driver": "mqtt"}}]}
    )
    login = MqttLogin("sensor-school-air", "wrong")
    async with run(scenario, load_profiles(PROFILES), broker.url, login) as sim:
        publisher = sim.publisher
        assert publisher is not None
        await asyncio.wait_for(publisher.failed.wait(), DEADLINE_S)
    assert publisher.published == 0
    reason = (publisher.last_error or "").lower()
    assert "authori" in reason or "password" in reason, reason


async def test_ingest_worker_and_its_restart_guard_run_under_the_acl(
    broker: ProvisionedBroker, provisioned: Provisioned, tmp_path: Path
) -> None:
    """The restart guard's plain subscription, probe and marker (peakline_ingest.restart_guard)
    are granted to the ingest account: the worker subscribes and its first recovery ends."""
    from peakline_ingest.service import IngestService, IngestSettings
    from peakline_store.open import open_store

    settings = IngestSettings(
        broker_url=f"mqtt://{broker.host}:{broker.service_port}",
        username=INGEST_USER,
        password=provisioned.passwords[INGEST_USER],
        client_id="ingest-acl",
        state_dir=tmp_path / "ingest-state",
    )
    service = IngestService(settings, open_store(f"sqlite:///{tmp_path / 'store.db'}"))
    assert service.guard is not None
    stop = asyncio.Event()
    worker = asyncio.create_task(service.run(stop))
    try:
        guard = service.guard
        await asyncio.to_thread(
            wait_until,
            lambda: worker.done() or (service._client is not None and not guard.recovering),
            DEADLINE_S,
            "ingest subscribed and its first recovery done",
        )
        assert not worker.done(), worker.exception()  # IngestConfigError if a grant is missing
    finally:
        stop.set()
        await worker
        await service.store.aclose()


TAKEOVER_CASES = [
    # (victim login, its client id, what it subscribes to, who publishes to it, on which topic)
    (
        INGEST_USER,
        "peakline-ingest-1",
        T.filter(TopicKind.TELEMETRY),
        "gw-river",
        T.telemetry("rt-school", "school-meter"),
    ),
    (
        INGEST_USER,
        "peakline-ingest-1-guard",
        "peakline/v1/ack/#",
        "gw-river",
        T.ack("rt-school", "school-pv"),
    ),
    (
        API_USER,
        "peakline-api-control-peakline",
        "peakline/v1/ack/#",
        "gw-river",
        T.ack("rt-school", "school-meter"),
    ),
    (
        "gw-river",
        "peakline-edge-gw-river",
        T.command("rt-school", "school-meter"),
        API_USER,
        T.command("rt-school", "school-meter"),
    ),
]


@pytest.mark.parametrize("attacker", ["gw-lake", "sensor-school-air"])
@pytest.mark.parametrize(("victim", "victim_id", "subscription", "sender", "topic"), TAKEOVER_CASES)
async def test_a_device_login_cannot_take_over_another_session(
    broker: ProvisionedBroker,
    provisioned: Provisioned,
    attacker: str,
    victim: str,
    victim_id: str,
    subscription: str,
    sender: str,
    topic: str,
) -> None:
    """A device connecting with a service's (or another gateway's) client id gets its own login
    as client id instead: the victim's connection stays up and a QoS 1 message published while
    the intruder is connected reaches the victim, not a hijacked session (issue #19)."""
    async with _client(broker, provisioned, victim, identifier=victim_id, clean_start=False) as own:
        await own.subscribe(subscription, qos=1)
        async with (
            _client(broker, provisioned, attacker, identifier=victim_id, clean_start=True),
            _client(broker, provisioned, sender) as publisher,
        ):
            await publisher.publish(topic, b"marker", qos=1)
            seen = await _first_with(own, b"marker")
    assert seen[-1] == (topic, b"marker")


@pytest.mark.parametrize("user", ["gw-lake", "sensor-school-air"])
async def test_device_logins_are_refused_on_the_service_listener(
    broker: ProvisionedBroker, provisioned: Provisioned, user: str
) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with _client(broker, provisioned, user, port=broker.service_port):
            pass
    # and a service login is refused on the device listener (its password is not there)
    with pytest.raises(aiomqtt.MqttError):
        async with _client(broker, provisioned, INGEST_USER, port=broker.port):
            pass
