"""A two-city district built from the config models (no files): provisioning's input."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from peakline_core.config import PlatformConfig
from peakline_core.config.platform import Agent, Device, Programme, Site


def two_city_config(prefix: str = "peakline") -> PlatformConfig:
    """Riverton has gateway gw-river (two meters and an MQTT air sensor); Lakeside has gw-lake
    (one meter). Site and device ids differ only by city, as a real programme's would."""
    programme = Programme.model_validate(
        {
            "id": "p",
            "name": "P",
            "cities": [{"id": "riverton", "name": "R"}, {"id": "lakeside", "name": "L"}],
        }
    )
    sites = [
        Site(id=s, name=s, city=c, district=f"{c}-d", floor_area_m2=100, grid_region="X")
        for s, c in (("rt-school", "riverton"), ("lk-hall", "lakeside"))
    ]
    tcp = {"driver": "modbus-tcp", "host": "127.0.0.1", "port": 1502}
    devices = [
        Device.model_validate(
            {
                "id": "school-meter",
                "site": "rt-school",
                "agent": "gw-river",
                "profile": "m",
                "connection": tcp,
            }
        ),
        Device.model_validate(
            {
                "id": "school-pv",
                "site": "rt-school",
                "agent": "gw-river",
                "profile": "m",
                "connection": tcp,
            }
        ),
        Device.model_validate(
            {
                "id": "school-air",
                "site": "rt-school",
                "agent": "gw-river",
                "profile": "a",
                "connection": {"driver": "mqtt", "topic": "sensors/rt-school/air"},
            }
        ),
        Device.model_validate(
            {
                "id": "hall-meter",
                "site": "lk-hall",
                "agent": "gw-lake",
                "profile": "m",
                "connection": tcp,
            }
        ),
    ]
    agents = [
        Agent.model_validate(
            {"id": "gw-river", "site": "rt-school", "uplink": {"topic_prefix": prefix}}
        ),
        Agent.model_validate(
            {"id": "gw-lake", "site": "lk-hall", "uplink": {"topic_prefix": prefix}}
        ),
    ]
    return PlatformConfig(
        root=Path("."),
        programme=programme,
        sites={s.id: s for s in sites},
        devices={d.id: d for d in devices},
        agents={a.id: a for a in agents},
        profiles={},
    )


@pytest.fixture
def district() -> PlatformConfig:
    return two_city_config()


@dataclass(frozen=True)
class ThrowawayCa:
    """A CA made for one test, and a server certificate it signed for 127.0.0.1/localhost."""

    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _signed(name: str, cn: str, ext: str, cwd: Path) -> None:
    _openssl(
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.csr",
        "-subj",
        f"/CN={cn}",
        cwd=cwd,
    )
    (cwd / f"{name}.ext").write_text(ext)
    _openssl(
        "x509",
        "-req",
        "-in",
        f"{name}.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-sha256",
        "-extfile",
        f"{name}.ext",
        "-out",
        f"{name}.crt",
        cwd=cwd,
    )


@pytest.fixture(scope="session")
def throwaway_ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCa:
    """Made with the `openssl` command line, as an operator following docs/deployment.md would."""
    d = tmp_path_factory.mktemp("ca")
    _openssl(
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
        "2",
        "-subj",
        "/CN=peakline test CA",
        cwd=d,
    )
    _signed(
        "server",
        "localhost",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        d,
    )
    _signed("client", "gw-river", "extendedKeyUsage=clientAuth\n", d)
    return ThrowawayCa(
        d / "ca.crt", d / "server.crt", d / "server.key", d / "client.crt", d / "client.key"
    )
