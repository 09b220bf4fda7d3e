"""End to end on loopback: API -> mosquitto -> edge agent (subprocess) -> Modbus TCP peer and
back, with every outcome in the API's ledger (see control_rig.py for the set-up)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from peakline_core.wire import Command, CommandState, decode_ack, encode
from peakline_testing.waiting import eventually
from tests.integration.control.control_rig import SETPOINT, Rig, control_rig

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
async def rig(tmp_path: Path, mosquitto, topic_prefix: str) -> AsyncIterator[Rig]:  # type: ignore[no-untyped-def]
    async with control_rig(
        tmp_path, mosquitto.url, mosquitto.host, mosquitto.port, topic_prefix
    ) as rig:
        yield rig


async def test_setpoint_applied_with_readback(rig: Rig) -> None:
    r = await rig.command(value=23.5)
    assert r.status_code == 202, r.text
    done = await rig.until_state(r.json()["id"], {"applied", "rejected", "failed", "expired"})
    assert done["state"] == "applied", done
    assert done["readback"] == 23.5 and done["previous"] == 21.0
    assert rig.peers["hvac1"].units[1].holding[SETPOINT] == 235  # on the wire, x0.1 degC
    states = [h["state"] for h in done["history"] if h["applied"]]
    assert states == ["accepted", "sent", "applied"]


async def test_out_of_range_rejected_at_api_and_at_edge(rig: Rig) -> None:
    r = await rig.command(value=35.0)
    assert r.status_code == 422 and r.json()["reason"] == "out_of_range"
    # Forced straight onto the command topic: the edge validates again and refuses.
    now = time.time_ns()
    forced = Command(
        id="forced-1", site="s1", device="hvac1", point="setpoint", value=35.0,
        issued_at=now, expires_at=now + 20_000_000_000, issuer="mallory",
    )  # fmt: skip
    await rig.mqtt.publish(f"{rig.prefix}/v1/cmd/s1/hvac1", encode(forced), qos=1)

    def acked() -> bool:
        return any(decode_ack(p).id == "forced-1" for p in rig.heard_on("ack", "hvac1"))

    await eventually(acked, 30, "the edge's ack of the forced command")
    ack = next(a for a in map(decode_ack, rig.heard_on("ack", "hvac1")) if a.id == "forced-1")
    assert ack.state is CommandState.REJECTED and (ack.reason or "").startswith("out_of_range")
    assert rig.peers["hvac1"].writes == []


async def test_read_only_device_never_written(rig: Rig) -> None:
    r = await rig.command(device="hvac-ro", value=22.0)
    assert r.status_code == 422 and r.json()["reason"] == "read_only"
    now = time.time_ns()
    forced = Command(
        id="forced-ro", site="s1", device="hvac-ro", point="setpoint", value=22.0,
        issued_at=now, expires_at=now + 20_000_000_000, issuer="mallory",
    )  # fmt: skip
    await rig.mqtt.publish(f"{rig.prefix}/v1/cmd/s1/hvac-ro", encode(forced), qos=1)
    await eventually(
        lambda: bool(rig.heard_on("ack", "hvac-ro")), 30, "ack for the read-only device"
    )
    ack = decode_ack(rig.heard_on("ack", "hvac-ro")[0])
    assert ack.state is CommandState.REJECTED and (ack.reason or "").startswith("read_only")
    assert rig.peers["hvac-ro"].writes == []  # the peer's write log: nothing, ever


async def test_unreachable_device_expires(rig: Rig) -> None:
    r = await rig.command(device="hvac-gone", value=22.0, expires_in_s=2)
    assert r.status_code == 202
    done = await rig.until_state(r.json()["id"], {"applied", "rejected", "failed", "expired"})
    assert done["state"] == "expired", done
    # A command that reaches a reachable device after its expiry is not executed either.
    now = time.time_ns()
    late = Command(
        id="late-1", site="s1", device="hvac1", point="setpoint", value=22.0,
        issued_at=now - 20_000_000_000, expires_at=now - 1, issuer="op",
    )  # fmt: skip
    await rig.mqtt.publish(f"{rig.prefix}/v1/cmd/s1/hvac1", encode(late), qos=1)

    def acked() -> bool:
        return any(decode_ack(p).id == "late-1" for p in rig.heard_on("ack", "hvac1"))

    await eventually(acked, 30, "the edge's ack of the late command")
    ack = next(a for a in map(decode_ack, rig.heard_on("ack", "hvac1")) if a.id == "late-1")
    assert ack.state is CommandState.EXPIRED and rig.peers["hvac1"].writes == []


async def test_dry_run_validates_without_writing(rig: Rig) -> None:
    r = await rig.command(value=22.0, dry_run=True)
    done = await rig.until_state(r.json()["id"], {"applied", "rejected", "failed", "expired"})
    assert done["state"] == "applied" and done["reason"].startswith("dry_run")
    assert rig.peers["hvac1"].writes == []


async def test_revert_after_survives_agent_restart(rig: Rig) -> None:
    r = await rig.command(value=23.0, revert_after_s=12)
    command_id = r.json()["id"]
    await rig.until_state(command_id, {"applied"})
    rig.agent.kill()  # SIGKILL mid-hold
    unit = rig.peers["hvac1"].units[1]
    assert unit.holding[SETPOINT] == 230  # still held: nobody restored it yet
    rig.agent.start()
    done = await rig.until_state(command_id, {"reverted", "failed"}, timeout_s=60)
    assert done["state"] == "reverted" and done["readback"] == 21.0
    assert unit.holding[SETPOINT] == 210
    writes = [w for w in rig.peers["hvac1"].writes if w[2] == SETPOINT]
    assert [w[3] for w in writes] == [[230], [210]]


async def test_idempotent_post_is_not_sent_twice(rig: Rig) -> None:
    first = await rig.command(value=22.0, idempotency_key="same")
    second = await rig.command(value=22.0, idempotency_key="same")
    assert first.json()["id"] == second.json()["id"]
    await rig.until_state(first.json()["id"], {"applied"})

    async def one_write() -> bool:
        return len(rig.peers["hvac1"].writes) == 1

    await eventually(one_write, 10, "exactly one write", every_s=0.1)
