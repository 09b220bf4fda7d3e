"""Two API processes (`peakline-api run`, subprocesses) on one real PostgreSQL and one real
mosquitto (issue 21): keys made once work on both and a revocation stops both; a command
posted to one and acked through the broker as the edge acks it is `applied` read from the
other, and an ack heard by both replicas moves it once; the replica holding the sweeper lease
is killed and the other takes the lease over and expires what was left, each command once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.publish as mqtt_publish
import psycopg
import pytest

from peakline_api.control import SWEEPER_LEASE
from peakline_core.wire import CommandAck, CommandState, Topics, encode
from peakline_testing.servers import Mosquitto, Postgres, free_port
from peakline_testing.waiting import wait_until
from tests.integration.control.control_rig import closed_port, write_config

LEASE_S = 3.0
BIN = Path(sys.executable).parent


@dataclass
class Replica:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "peakline-api"), *args], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"}, check=False,
    )  # fmt: skip


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def replicas(
    tmp_path: Path, postgres: Postgres, pg_database: str, mosquitto: Mosquitto, topic_prefix: str
) -> Iterator[tuple[list[Replica], list[str]]]:
    root = write_config(
        tmp_path / "config", mosquitto.url, topic_prefix,
        {"hvac1": closed_port(), "hvac-ro": closed_port(), "hvac-gone": closed_port()},
    )  # fmt: skip
    database = pg_database.rsplit("/", 1)[1]
    state = ["--state-url", postgres.url(database, with_password=False),
             "--state-password-file", str(postgres.password_file)]  # fmt: skip
    with ExitStack() as stack:
        started: list[Replica] = []
        for name in ("a", "b"):
            port, log = free_port(), tmp_path / f"api-{name}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [
                        str(BIN / "peakline-api"), "run", "--config", str(root),
                        "--store", f"sqlite:///{tmp_path / 'store.db'}",
                        "--broker", mosquitto.url, "--topic-prefix", topic_prefix,
                        "--keys-db", str(tmp_path / f"unused-keys-{name}.db"),
                        "--port", str(port), "--lease-s", str(LEASE_S), *state,
                    ],
                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )  # fmt: skip
            replica = Replica(name, port, proc, log)
            stack.callback(_stop, proc)
            started.append(replica)
        for r in started:
            wait_until(
                lambda r=r: healthy(r.url) or r.proc.poll() is not None, 60, f"API {r.name} up"
            )
            assert r.proc.poll() is None, r.log_tail()
        yield started, state
    for name in ("a", "b"):
        assert not (tmp_path / f"unused-keys-{name}.db").exists()  # nothing in SQLite


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def sql(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query.encode(), args).fetchall()


def command_state(replica: Replica, token: str, command_id: str) -> str:
    r = httpx.get(
        f"{replica.url}/api/v1/commands/{command_id}",
        headers={"Authorization": f"Bearer {token}"}, timeout=10,
    )  # fmt: skip
    assert r.status_code == 200, r.text
    state: str = r.json()["state"]
    return state


def post_command(replica: Replica, token: str, value: float, expires_in_s: float) -> str:
    body = {"site": "s1", "device": "hvac1", "point": "setpoint", "value": value,
            "expires_in_s": expires_in_s}  # fmt: skip
    r = httpx.post(
        f"{replica.url}/api/v1/commands", json=body,
        headers={"Authorization": f"Bearer {token}"}, timeout=10,
    )  # fmt: skip
    assert r.status_code in (200, 201, 202), r.text
    command_id: str = r.json()["id"]
    return command_id


def publish_ack(mosquitto: Mosquitto, prefix: str, command_id: str, value: float) -> None:
    """The ack exactly as the edge agent gw1 publishes it (QoS 1)."""
    ack = CommandAck(
        id=command_id, agent="gw1", site="s1", device="hvac1", point="setpoint",
        state=CommandState.APPLIED, ts=time.time_ns(), readback=value, previous=21.0,
    )  # fmt: skip
    mqtt_publish.single(
        Topics(prefix).ack("s1", "hvac1"), encode(ack), qos=1,
        hostname=mosquitto.host, port=mosquitto.port,
    )  # fmt: skip


def test_two_replicas_share_keys_ledger_and_the_sweeper(
    replicas: tuple[list[Replica], list[str]],
    pg_database: str,
    mosquitto: Mosquitto,
    topic_prefix: str,
) -> None:
    (a, b), state = replicas
    created = cli("keys", "create", "--name", "op", "--role", "operator", "--city", "c1", *state)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    other = cli("keys", "create", "--name", "gone", "--role", "viewer", "--city", "c1", *state)
    gone = other.stdout.strip().splitlines()[-1]

    # keys: made once, honoured by both; a revocation stops both
    for r in (a, b):
        for t in (token, gone):
            got = httpx.get(
                f"{r.url}/api/v1/sites", headers={"Authorization": f"Bearer {t}"}, timeout=10
            )
            assert got.status_code == 200, (r.name, got.text)
    gone_id = gone.split("_")[1]
    assert cli("keys", "revoke", gone_id, *state).returncode == 0
    for r in (a, b):
        got = httpx.get(
            f"{r.url}/api/v1/sites", headers={"Authorization": f"Bearer {gone}"}, timeout=10
        )
        assert got.status_code == 401, (r.name, got.text)

    # a command posted to a, acked through the broker, read as applied from b
    wait_until(lambda: bool(sql(pg_database, "SELECT 1 FROM lease")), 30, "leases taken")
    applied = post_command(a, token, 22.5, 60)
    wait_until(lambda: command_state(a, token, applied) == "sent", 30, "command sent")
    publish_ack(mosquitto, topic_prefix, applied, 22.5)
    wait_until(lambda: command_state(b, token, applied) == "applied", 30, "applied on b")
    publish_ack(mosquitto, topic_prefix, applied, 22.5)  # the broker redelivers: harmless
    # both replicas follow the broker: each records both acks, exactly one moved the command
    wait_until(
        lambda: len(sql(pg_database, "SELECT 1 FROM command_events WHERE command_id = %s"
                        " AND source = 'edge:gw1'", applied)) == 4,
        30, "four ack records (two acks, two replicas)",
    )  # fmt: skip
    assert sql(
        pg_database,
        "SELECT count(*), sum(applied) FROM command_events WHERE command_id = %s"
        " AND source = 'edge:gw1'",
        applied,
    ) == [(4, 1)]

    # the sweeper lease: one holder; kill it, the other takes over and expires what is left
    [(holder,)] = sql(pg_database, "SELECT holder FROM lease WHERE name = %s", SWEEPER_LEASE)
    pid = int(holder.split(":")[1])
    victim, survivor = (a, b) if pid == a.proc.pid else (b, a)
    assert pid == victim.proc.pid
    pending = [post_command(survivor, token, 20.0 + i, 1) for i in range(3)]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    killed_ns = time.time_ns()
    wait_until(
        lambda: sql(pg_database, "SELECT holder FROM lease WHERE name = %s", SWEEPER_LEASE)[0][0]
        != holder,
        LEASE_S + 10,  # its lease time, and room for a loaded machine
        "the sweeper lease taken over",
    )  # fmt: skip
    takeover_s = (time.time_ns() - killed_ns) / 1e9
    [(new_holder,)] = sql(pg_database, "SELECT holder FROM lease WHERE name = %s", SWEEPER_LEASE)
    assert int(new_holder.split(":")[1]) == survivor.proc.pid
    print(f"sweeper lease taken over {takeover_s:.1f} s after the kill (lease {LEASE_S} s)")
    for cid in pending:
        wait_until(lambda cid=cid: command_state(survivor, token, cid) == "expired", 30,
                   f"{cid} expired")  # fmt: skip
    rows = sql(
        pg_database,
        "SELECT command_id, count(*) FROM command_events WHERE state = 'expired' AND applied = 1"
        " GROUP BY command_id",
    )
    assert sorted(rows) == sorted((cid, 1) for cid in pending)  # every one once, none twice
    swept = sql(
        pg_database,
        "SELECT command_id, count(*) FROM command_events WHERE source = 'sweeper'"
        " GROUP BY command_id",
    )
    assert sorted(swept) == sorted((cid, 1) for cid in pending)  # one sweeper at a time
    assert command_state(survivor, token, applied) == "applied"  # the ack was not overruled
    assert survivor.proc.poll() is None, survivor.log_tail()
