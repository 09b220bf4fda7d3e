"""Provisioning as pure functions: who may touch which topic, and the files it writes."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import stat
from pathlib import Path

import pytest

from peakline_cli.provision import (
    API_USER,
    INGEST_USER,
    Access,
    ProvisionError,
    all_accounts,
    gateway_account,
    hash_password,
    parse_operator,
    provision,
    render_acl,
)
from peakline_core.config import PlatformConfig
from peakline_core.wire.topics import Topics


def _matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching, as the broker applies an ACL line to a concrete topic."""
    p, t = pattern.split("/"), topic.split("/")
    for i, seg in enumerate(p):
        if seg == "#":
            return True
        if i >= len(t) or (seg != "+" and seg != t[i]):
            return False
    return len(p) == len(t)


def _allowed(config: PlatformConfig, user: str, access: Access, topic: str) -> bool:
    acc = next(a for a in all_accounts(config) if a.username == user)
    return any(r.access is access and _matches(r.topic, topic) for r in acc.rules)


def test_gateway_writes_only_its_own_devices(district: PlatformConfig) -> None:
    t = Topics("peakline")
    own = [("rt-school", "school-meter"), ("rt-school", "school-pv"), ("rt-school", "school-air")]
    for site, dev in own:
        for topic in (t.telemetry(site, dev), t.status(site, dev), t.ack(site, dev)):
            assert _allowed(district, "gw-river", Access.WRITE, topic)
        assert _allowed(district, "gw-river", Access.READ, t.command(site, dev))
        assert not _allowed(district, "gw-river", Access.WRITE, t.command(site, dev))
    assert _allowed(district, "gw-river", Access.WRITE, t.agent("gw-river"))
    # Another city's gateway, device and agent topics: nothing.
    for topic in (
        t.telemetry("lk-hall", "hall-meter"),
        t.ack("lk-hall", "hall-meter"),
        t.agent("gw-lake"),
        t.dead_letter("ingest"),
        t.event("rt-school", "school-meter"),
        # Own device id under a foreign site is not its device.
        t.telemetry("lk-hall", "school-meter"),
    ):
        assert not _allowed(district, "gw-river", Access.WRITE, topic), topic
    assert not _allowed(district, "gw-river", Access.READ, t.command("lk-hall", "hall-meter"))
    assert not _allowed(district, "gw-river", Access.READ, t.telemetry("rt-school", "school-pv"))


def test_gateway_rules_name_concrete_topics_only(district: PlatformConfig) -> None:
    acc = gateway_account(district, "gw-lake")
    assert all("+" not in r.topic and "#" not in r.topic for r in acc.rules)
    assert acc.devices == ("hall-meter",)


def test_mqtt_sensor_gets_an_account_and_its_gateway_may_read_it(district: PlatformConfig) -> None:
    assert _allowed(district, "sensor-school-air", Access.WRITE, "sensors/rt-school/air")
    assert not _allowed(district, "sensor-school-air", Access.WRITE, "sensors/lk-hall/air")
    assert _allowed(district, "gw-river", Access.READ, "sensors/rt-school/air")
    assert not _allowed(district, "gw-lake", Access.READ, "sensors/rt-school/air")


def test_services_rights(district: PlatformConfig) -> None:
    t = Topics("peakline")
    assert _allowed(district, INGEST_USER, Access.READ, t.telemetry("lk-hall", "hall-meter"))
    assert _allowed(district, INGEST_USER, Access.WRITE, t.dead_letter("ingest"))
    assert not _allowed(district, INGEST_USER, Access.WRITE, t.command("lk-hall", "hall-meter"))
    assert _allowed(district, API_USER, Access.WRITE, t.command("lk-hall", "hall-meter"))
    assert not _allowed(district, API_USER, Access.WRITE, t.telemetry("lk-hall", "hall-meter"))


def test_account_name_clash_is_refused(district: PlatformConfig) -> None:
    agents = dict(district.agents)
    agents["svc-ingest"] = agents["gw-lake"].model_copy(update={"id": "svc-ingest"})
    clash = PlatformConfig(
        district.root, district.programme, district.sites, district.devices, agents, {}
    )
    with pytest.raises(ProvisionError, match="svc-ingest"):
        all_accounts(clash)


def test_acl_text_has_one_block_per_account(district: PlatformConfig) -> None:
    text = render_acl(all_accounts(district))
    assert "user gw-river\n" in text and "user gw-lake\n" in text
    block = text.split("user gw-lake\n")[1].split("\n\n")[0]
    assert "topic read peakline/v1/cmd/lk-hall/hall-meter" in block
    assert "rt-school" not in block


def test_password_hash_is_mosquitto_pbkdf2_sha512() -> None:
    salt = bytes(range(12))
    encoded = hash_password("s3cret", salt=salt, iterations=101)
    _, tag, iterations, salt_b64, digest_b64 = encoded.split("$")
    assert (tag, iterations, base64.b64decode(salt_b64)) == ("7", "101", salt)
    expected = hashlib.pbkdf2_hmac("sha512", b"s3cret", salt, 101)
    assert base64.b64decode(digest_b64) == expected
    assert hash_password("s3cret") != hash_password("s3cret")  # fresh salt each time


def test_provision_keeps_passwords_unless_rotated(district: PlatformConfig, tmp_path: Path) -> None:
    first = provision(district, tmp_path)
    assert set(first.created) == set(first.passwords)
    again = provision(district, tmp_path)
    assert again.created == [] and again.passwords == first.passwords
    rotated = provision(district, tmp_path, rotate=True)
    assert all(rotated.passwords[u] != first.passwords[u] for u in first.passwords)
    for path in (rotated.passwd_file, rotated.secret_file("gw-river")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    bundle = tmp_path / "gateways/gw-lake"
    assert (bundle / "mqtt.password").read_text().strip() == rotated.passwords["gw-lake"]
    assert "username: gw-lake" in (bundle / "uplink.yaml").read_text()
    users = [line.split(":")[0] for line in rotated.passwd_file.read_text().splitlines()]
    services = rotated.services_passwd_file.read_text().splitlines()
    assert [line.split(":")[0] for line in services] == ["svc-api", "svc-ingest"]
    assert sorted([*users, "svc-api", "svc-ingest"]) == sorted(rotated.passwords)
    assert stat.S_IMODE(rotated.services_passwd_file.stat().st_mode) == 0o600


@pytest.mark.parametrize("agent", ["peakline-ingest-1", "svc-api"])
def test_a_device_login_may_not_look_like_a_service(
    district: PlatformConfig, tmp_path: Path, agent: str
) -> None:
    """A device's login is its client id on the broker: a gateway named like a service's
    client id would take that session over (issue #19)."""
    old = next(iter(district.agents))
    agents = dict(district.agents)
    agents[agent] = agents.pop(old).model_copy(update={"id": agent})
    devices = {
        k: d.model_copy(update={"agent": agent}) if d.agent == old else d
        for k, d in district.devices.items()
    }
    config = dataclasses.replace(district, agents=agents, devices=devices)
    with pytest.raises(ProvisionError, match="may not start with"):
        provision(config, tmp_path)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("alice", ("alice", "viewer", ["*"])),
        ("bob:operator", ("bob", "operator", ["*"])),
        ("carol:admin:riverton,lakeside", ("carol", "admin", ["riverton", "lakeside"])),
    ],
)
def test_parse_operator(spec: str, expected: tuple[str, str, list[str]]) -> None:
    assert parse_operator(spec) == expected


@pytest.mark.parametrize("spec", [":viewer", "dave:viewer:bad city"])
def test_parse_operator_rejects(spec: str) -> None:
    with pytest.raises(ProvisionError):
        parse_operator(spec)


def _with_sensor_topic(config: PlatformConfig, device: str, topic: str) -> PlatformConfig:
    dev = config.devices[device]
    conn = dev.connection.model_copy(update={"topic": topic})
    devices = {**config.devices, device: dev.model_copy(update={"connection": conn})}
    return dataclasses.replace(config, devices=devices)


@pytest.mark.parametrize(
    "topic",
    ["sensors/+/air", "sensors/#", "peakline/v1/tele/lk-hall/hall-meter", "peakline", "$SYS/x"],
)
def test_a_sensor_topic_must_be_one_topic_outside_the_platform(
    district: PlatformConfig, topic: str
) -> None:
    """Issue #19: the ACL grants a sensor topic as written; a wildcard or a platform topic
    would let the sensor's login (and its gateway) read or write far more than its sensor."""
    with pytest.raises(ProvisionError, match="sensor topic"):
        all_accounts(_with_sensor_topic(district, "school-air", topic))


def test_a_sensor_topic_is_not_shared_across_cities(district: PlatformConfig) -> None:
    sensor = district.devices["school-air"]
    other_city = next(
        s for s in district.sites.values() if s.city != district.sites[sensor.site].city
    )
    agent = next(a for a in district.agents.values() if a.site == other_city.id)
    twin = sensor.model_copy(update={"id": "hall-air", "site": other_city.id, "agent": agent.id})
    config = dataclasses.replace(district, devices={**district.devices, "hall-air": twin})
    with pytest.raises(ProvisionError, match="another city"):
        all_accounts(config)
