"""The API logs in to a broker that requires passwords (as the compose deployment's does)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import aiomqtt
import pytest

from peakline_api.live import mqtt_client_options
from peakline_api.settings import ApiSettings
from peakline_testing.servers import Mosquitto, free_port


@pytest.fixture
def locked_broker(tmp_path: Path):
    passwd = tmp_path / "passwd"
    tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    subprocess.run([tool, "-c", "-b", str(passwd), "svc-api", "s3cret"], check=True)
    port = free_port()
    config = f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {passwd}\n"
    server = Mosquitto.create(tmp_path / "broker", extra_config=config, port=port)
    with server:
        yield server


def settings(tmp_path: Path, url: str, password: str | None) -> ApiSettings:
    password_file = None
    if password is not None:
        password_file = tmp_path / "mqtt.password"
        password_file.write_text(password + "\n")
    return ApiSettings(
        config_dir=tmp_path,
        store_url="sqlite:///unused.db",
        keys_db=tmp_path / "keys.db",
        broker_url=url,
        broker_username="svc-api",
        broker_password_file=password_file,
    )


async def test_api_client_options_log_in(locked_broker: Mosquitto, tmp_path: Path) -> None:
    options = mqtt_client_options(settings(tmp_path, locked_broker.url, "s3cret"))
    async with asyncio.timeout(10), aiomqtt.Client(**options) as client:
        await client.subscribe("peakline/v1/status/+/+")


@pytest.mark.parametrize("password", ["wrong", None])
async def test_wrong_or_missing_password_is_refused(
    locked_broker: Mosquitto, tmp_path: Path, password: str | None
) -> None:
    options = mqtt_client_options(settings(tmp_path, locked_broker.url, password))
    with pytest.raises(aiomqtt.MqttError):
        async with asyncio.timeout(10), aiomqtt.Client(**options):
            pass
