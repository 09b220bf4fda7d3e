"""Secrets stay out of files others can read, error messages and command lines (issue #19)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from peakline_api.alerts.store import AlertStore
from peakline_api.keys import KeyStore, Role
from peakline_api.ledger import CommandLedger
from peakline_api.refrigerant_store import RefrigerantStore
from peakline_api.retrofit_store import RetrofitStore
from peakline_core.wire.broker import BrokerAddress, BrokerUrlError, redact_url

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0o022)  # the usual default: files 0644 unless created otherwise
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("open_umask")
def test_the_apis_databases_are_private(tmp_path: Path) -> None:
    with KeyStore(tmp_path / "api-keys.db") as keys:
        keys.create("ops", Role.ADMIN, ["*"])
    with CommandLedger(f"sqlite:///{tmp_path / 'ledger.db'}"):
        pass
    with RetrofitStore(tmp_path / "retrofits.db"):
        pass
    with RefrigerantStore(tmp_path / "refrigerants.db"), AlertStore(tmp_path / "alerts.db"):
        pass
    (tmp_path / "old.db").write_bytes(b"")  # created 0644 by an earlier version
    os.chmod(tmp_path / "old.db", 0o644)
    with KeyStore(tmp_path / "old.db"):
        pass
    for name in ("api-keys.db", "ledger.db", "retrofits.db", "refrigerants.db", "alerts.db",
                 "old.db"):  # fmt: skip
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))


@pytest.mark.parametrize(
    "url", ["mqtt://gw:s3cret@host:port", "http://gw:s3cret@host:1883", "mqtt://gw:s3cret@"]
)
def test_a_bad_broker_url_is_reported_without_its_password(url: str) -> None:
    with pytest.raises(BrokerUrlError) as err:
        BrokerAddress.parse(url)
    assert "s3cret" not in str(err.value) and "gw:***@" in str(err.value)
    assert redact_url("mqtt://host:1883") == "mqtt://host:1883"


def test_no_service_takes_a_password_on_its_command_line() -> None:
    compose: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        for arg in service.get("command") or []:
            assert "token=" not in arg and "PASSWORD" not in arg, (name, arg)
