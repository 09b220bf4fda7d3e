"""The uplink over TLS (a private CA) with username and password, against a mosquitto that
refuses anonymous and plain connections."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import aiomqtt
import pytest
import yaml

from peakline_core.wire import decode_telemetry
from peakline_testing.modbus_peer import Unit, modbus_peer
from peakline_testing.servers import Mosquitto, free_port
from peakline_testing.waiting import eventually
from tests.integration.edge.edge_harness import AgentProcess, modbus_device, write_config

pytestmark = pytest.mark.timeout(120)


def _pki(d: Path) -> None:
    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=peakline-test-ca",
    )
    ssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "1",
        "-extfile",
        "san.ext",
    )
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(d / "passwd"), "gw1", "s3cret"],
        check=True,
        capture_output=True,
    )


async def test_uplink_with_tls_and_password(tmp_path: Path, topic_prefix: str) -> None:
    pki = tmp_path / "pki"
    pki.mkdir()
    _pki(pki)
    port = free_port()
    extra = (
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {pki}/passwd\n"
        f"cafile {pki}/ca.crt\ncertfile {pki}/server.crt\nkeyfile {pki}/server.key\n"
    )
    with Mosquitto.create(extra_config=extra, port=port) as broker:
        async with modbus_peer({1: Unit(holding={a: 0 for a in range(11)})}) as peer:
            config = write_config(
                tmp_path / "cfg",
                f"mqtts://127.0.0.1:{port}",
                topic_prefix,
                [modbus_device("m1", peer.port, 1)],
            )
            agents = yaml.safe_load((config / "agents.yaml").read_text())
            agents["agents"][0]["uplink"].update(
                username="gw1", password_file="secret.txt", ca_file=str(pki / "ca.crt")
            )
            (config / "agents.yaml").write_text(yaml.safe_dump(agents))
            (config / "secret.txt").write_text("s3cret\n")
            tls = aiomqtt.TLSParameters(ca_certs=str(pki / "ca.crt"))
            received: list[str] = []
            async with aiomqtt.Client(
                broker.host, port, username="gw1", password="s3cret", tls_params=tls
            ) as client:
                await client.subscribe(f"{topic_prefix}/v1/tele/#", qos=1)

                async def watch() -> None:
                    async for m in client.messages:
                        assert isinstance(m.payload, bytes)
                        received.append(decode_telemetry(m.payload).device)

                task = asyncio.create_task(watch())
                agent = AgentProcess(config, tmp_path / "state", tmp_path / "agent.log")
                agent.start()
                try:
                    await eventually(lambda: len(received) >= 2, 60, "telemetry over TLS")
                    assert await agent.terminate() == 0
                finally:
                    agent.stop_quietly()
                    task.cancel()
    assert set(received) == {"m1"}
    with pytest.raises(aiomqtt.MqttError):  # and the broker really refused plain text
        async with aiomqtt.Client("127.0.0.1", port, timeout=2):
            pass
