"""`peakline-api run --workers 2` on the embedded SQLite state: two uvicorn worker processes
on one port share the key and ledger files, and the leases in the ledger file let exactly one
of them sweep and schedule DR events (issue 21)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import httpx

from peakline_api.control import DR_LEASE, SWEEPER_LEASE
from peakline_api.keys import KeyStore, Role
from peakline_testing.servers import free_port
from peakline_testing.waiting import wait_until
from tests.integration.control.control_rig import closed_port, write_config


def rows(db: Path, query: str, *args: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(query, args).fetchall()


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_two_workers_one_sweeper(tmp_path: Path) -> None:
    root = write_config(
        tmp_path / "config", "mqtt://127.0.0.1:1", "tw",
        {"hvac1": closed_port(), "hvac-ro": closed_port(), "hvac-gone": closed_port()},
    )  # fmt: skip
    keys_db, ledger = tmp_path / "keys.db", tmp_path / "ledger.db"
    with KeyStore(keys_db) as keys:
        token = keys.create("op", Role.OPERATOR, ["c1"])[1]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "api.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "peakline-api"), "run",
                "--config", str(root), "--store", f"sqlite:///{tmp_path / 'store.db'}",
                "--keys-db", str(keys_db), "--port", str(port), "--workers", "2",
                "--lease-s", "3",
            ],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:
        wait_until(lambda: healthy(url) or proc.poll() is not None, 90, "API workers up")
        assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
        names = (SWEEPER_LEASE, DR_LEASE)
        wait_until(lambda: len(rows(ledger, "SELECT 1 FROM lease")) == 2, 60, "leases taken")
        workers = {int(p) for p in subprocess.check_output(["ps", "--ppid", str(proc.pid),
                                                           "-o", "pid="]).split()}  # fmt: skip
        holders = {str(h) for (h,) in rows(ledger, "SELECT holder FROM lease")}
        assert len(holders) == 1  # one worker runs both singletons
        holder = holders.pop()
        assert int(holder.split(":")[1]) in workers

        auth = {"Authorization": f"Bearer {token}"}
        ids = []
        for i in range(6):  # spread over both workers by the kernel's accept balancing
            body = {"site": "s1", "device": "hvac1", "point": "setpoint", "value": 20.0 + i,
                    "expires_in_s": 1}  # fmt: skip
            r = httpx.post(f"{url}/api/v1/commands", json=body, headers=auth, timeout=10)
            assert r.status_code in (200, 201, 202), r.text
            ids.append(r.json()["id"])

        def expired() -> bool:
            states = [httpx.get(f"{url}/api/v1/commands/{c}", headers=auth, timeout=10)
                      .json()["state"] for c in ids]  # fmt: skip
            return all(s == "expired" for s in states)

        wait_until(expired, 60, "commands expired by the sweeper")
        # one sweeper: each command heard from the sweeper exactly once (a second sweeper
        # would leave a second, not-applied 'expired' report)
        swept = rows(
            ledger,
            "SELECT command_id, count(*), sum(applied) FROM command_events"
            " WHERE source = 'sweeper' GROUP BY command_id",
        )
        assert sorted(swept) == sorted((c, 1, 1) for c in ids)
        assert {str(h) for (h,) in rows(ledger, "SELECT holder FROM lease")} == {holder}
        assert [n for (n,) in rows(ledger, "SELECT name FROM lease ORDER BY name")] == sorted(names)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
