"""`peakline provision` as an operator runs it: files written, what to copy printed, API keys
created in the API's own key store and usable there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peakline_api.keys import KeyStore, Role
from peakline_cli import provision as provision_module
from peakline_cli.main import app
from peakline_core.config import PlatformConfig


@pytest.fixture
def runner_with_config(district: PlatformConfig, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    # The command's own seam: load_config -> the in-memory two-city district.
    monkeypatch.setattr(provision_module, "load_config", lambda _path: district)
    return CliRunner()


def test_provision_command_writes_files_and_keys(
    runner_with_config: CliRunner, tmp_path: Path
) -> None:
    out = tmp_path / "secrets"
    result = runner_with_config.invoke(
        app,
        [
            "provision",
            "config",
            "--out",
            str(out),
            "--operator",
            "alice:operator:riverton",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "mosquitto/passwd").is_file() and (out / "mosquitto/acl").is_file()
    assert "gw-river" in result.output and "mqtt.password" in result.output
    token = re.search(r"shown once: (plk_\S+)", result.output)
    assert token, result.output
    with KeyStore(out / "api-keys.db") as keys:
        key = keys.verify(token[1])
    assert key is not None and key.role is Role.OPERATOR and key.cities == ("riverton",)
    again = runner_with_config.invoke(app, ["provision", "config", "--out", str(out)])
    assert again.exit_code == 0 and "password kept" in again.output


def test_provision_command_rejects_a_bad_operator(
    runner_with_config: CliRunner, tmp_path: Path
) -> None:
    result = runner_with_config.invoke(
        app, ["provision", "config", "--out", str(tmp_path), "--operator", "eve:superuser"]
    )
    assert result.exit_code == 1
    assert "unknown role" in result.output
