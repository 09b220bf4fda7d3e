"""TLS with a throwaway CA: a real mosquitto TLS listener (server and client certificates) and
the API served over HTTPS. Clients that do not trust the CA, or speak plain TCP, get nowhere."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiomqtt
import httpx
import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp

from peakline_cli.demo.api_server import ApiServerError, TlsFiles, serve_api
from peakline_testing.servers import Mosquitto, free_port

if TYPE_CHECKING:
    from tests.integration.deploy.conftest import ThrowawayCa


REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def tls_broker(throwaway_ca: ThrowawayCa, tmp_path: Path) -> Iterator[Mosquitto]:
    port = free_port()
    config = (
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        f"cafile {throwaway_ca.ca_cert}\n"
        f"certfile {throwaway_ca.server_cert}\n"
        f"keyfile {throwaway_ca.server_key}\n"
        "tls_version tlsv1.2\n"
        # Gateways authenticate with a client certificate signed by the same CA.
        "require_certificate true\n"
    )
    with Mosquitto.create(workdir=tmp_path, extra_config=config, port=port) as server:
        yield server


def _tls(ca: ThrowawayCa, client_cert: bool = True) -> aiomqtt.TLSParameters:
    return aiomqtt.TLSParameters(
        ca_certs=str(ca.ca_cert),
        certfile=str(ca.client_cert) if client_cert else None,
        keyfile=str(ca.client_key) if client_cert else None,
    )


async def test_mqtt_over_tls_round_trip(tls_broker: Mosquitto, throwaway_ca: ThrowawayCa) -> None:
    async with aiomqtt.Client(
        tls_broker.host, tls_broker.port, tls_params=_tls(throwaway_ca), identifier="tls-test"
    ) as client:
        await client.subscribe("peakline/v1/tele/rt-school/school-meter", qos=1)
        await client.publish("peakline/v1/tele/rt-school/school-meter", b"over-tls", qos=1)
        async for msg in client.messages:
            assert msg.payload == b"over-tls"
            break


# MQTT 3.1.1 CONNECT, clean session, keep-alive 60 s, client id "raw".
_CONNECT = bytes([0x10, 15, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 3]) + b"raw"
_CONNACK_OK = bytes([0x20, 2, 0, 0])


def _mqtt_handshake(broker: Mosquitto, context: ssl.SSLContext | None) -> bytes:
    """Send CONNECT over a raw (TLS) socket and return what comes back (b"" when closed)."""
    with socket.create_connection((broker.host, broker.port), timeout=20) as raw:
        if context is None:
            return _exchange(raw)
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            return _exchange(tls)


def _exchange(sock: socket.socket) -> bytes:
    try:
        sock.sendall(_CONNECT)
        return sock.recv(4)
    except (ssl.SSLError, ConnectionError):
        return b""


def _context(ca: ThrowawayCa, trust_ca: bool = True, client_cert: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca.ca_cert) if trust_ca else None)
    if client_cert:
        ctx.load_cert_chain(ca.client_cert, ca.client_key)
    return ctx


def test_mqtt_tls_refuses_untrusted_or_plain_clients(
    tls_broker: Mosquitto, throwaway_ca: ThrowawayCa
) -> None:
    # The raw handshake works with the right credentials (so its failures below mean refusal).
    assert _mqtt_handshake(tls_broker, _context(throwaway_ca)) == _CONNACK_OK
    # Plain TCP against the TLS listener.
    assert _mqtt_handshake(tls_broker, None) == b""
    # TLS, but without the client certificate the listener requires.
    assert _mqtt_handshake(tls_broker, _context(throwaway_ca, client_cert=False)) == b""
    # A client that does not trust our CA refuses the broker's certificate.
    with pytest.raises(ssl.SSLCertVerificationError):
        _mqtt_handshake(tls_broker, _context(throwaway_ca, trust_ca=False))


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _peakline_api(tmp_path: Path) -> ASGIApp:
    """The real API on the example district's config and an empty SQLite store."""
    from peakline_api.app import create_app
    from peakline_api.settings import ApiSettings

    settings = ApiSettings(
        config_dir=REPO / "config",
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        keys_db=tmp_path / "keys.db",
    )
    return create_app(settings)


async def test_api_serves_https_with_the_ca(throwaway_ca: ThrowawayCa, tmp_path: Path) -> None:
    tls = TlsFiles(throwaway_ca.server_cert, throwaway_ca.server_key)
    port = free_port()
    async with serve_api(_peakline_api(tmp_path), port=port, tls=tls) as url:
        assert url == f"https://127.0.0.1:{port}"
        trusted = ssl.create_default_context(cafile=str(throwaway_ca.ca_cert))
        async with httpx.AsyncClient(verify=trusted) as client:
            resp = await client.get(f"{url}/health")
        assert resp.status_code == 200
        async with httpx.AsyncClient() as client:  # system CAs only
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{url}/health")
        async with httpx.AsyncClient() as client:  # plain HTTP to the TLS port
            with pytest.raises(httpx.HTTPError):
                await client.get(f"http://127.0.0.1:{port}/health")


async def test_api_refuses_missing_certificate(tmp_path: Path) -> None:
    tls = TlsFiles(tmp_path / "missing.crt", tmp_path / "missing.key")
    with pytest.raises(ApiServerError, match=r"missing\.crt"):
        async with serve_api(_app(), port=free_port(), tls=tls):
            pass


async def test_ingest_consumes_over_mqtts(
    tls_broker: Mosquitto, throwaway_ca: ThrowawayCa, tmp_path: Path
) -> None:
    """An ingest worker on a remote broker: mqtts:// with the CA and a client certificate."""
    from peakline_core.storage import SeriesQuery
    from peakline_core.wire import Reading, TelemetryBatch, Topics, encode
    from peakline_ingest.service import IngestService, IngestSettings
    from peakline_store.open import open_store

    settings = IngestSettings(
        broker_url=f"mqtts://localhost:{tls_broker.port}",
        ca_file=throwaway_ca.ca_cert,
        cert_file=throwaway_ca.client_cert,
        key_file=throwaway_ca.client_key,
        share_group=None,
        client_id="ingest-tls",
        state_dir=tmp_path / "ingest-state",
    )
    service = IngestService(settings, open_store(f"sqlite:///{tmp_path / 'store.db'}"))
    stop = asyncio.Event()
    worker = asyncio.create_task(service.run(stop))
    now = time.time_ns()
    batch = TelemetryBatch(
        agent="gw-tls",
        site="rt-school",
        device="school-meter",
        seq=1,
        sent=now,
        readings=[Reading(point="power_total", ts=now, value=1234.5)],
    )
    try:
        async with asyncio.timeout(30):
            while service._client is None:
                assert not worker.done(), worker.exception()
                await asyncio.sleep(0.05)
        async with aiomqtt.Client(
            tls_broker.host, tls_broker.port, tls_params=_tls(throwaway_ca), identifier="tls-pub"
        ) as publisher:
            await publisher.publish(
                Topics("peakline").telemetry("rt-school", "school-meter"), encode(batch), qos=1
            )
        query = SeriesQuery(
            measurement="reading",
            field="value",
            where={"device": ["school-meter"]},
            start_ns=now - 10**9,
            end_ns=now + 10**9,
        )
        async with asyncio.timeout(30):
            while not (found := await service.store.query(query)):  # noqa: ASYNC110
                await asyncio.sleep(0.1)
    finally:
        stop.set()
        await worker
        await service.store.aclose()
    assert [float(v) for v in found[0].values] == [1234.5]
