"""Fault injection through the whole pipeline (firmware-sim -> edge process -> mosquitto ->
ingest process -> influxd), each scenario comparing storage with what the edge produced,
reading by reading: zero lost, zero duplicated. Outages last seconds, not minutes, so the
suite fits CI; the mechanisms (disk spool, persistent sessions, ack after write) do not
depend on the outage length."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from harness import OUTAGE_S, assert_exact, hold, pipeline

from peakline_cli.servers import Influxd, Mosquitto

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


SHARED_GROUP_LOSS = (
    "found by this suite: after mosquitto 2.0.11 restarts, an ingest worker on a shared "
    "subscription ($share/ingest/...) with a persistent session re-subscribes but receives "
    "nothing more; a plain persistent subscription (--group '') loses nothing"
)


@pytest.mark.parametrize(
    "group",
    ["", pytest.param("ingest", marks=pytest.mark.xfail(strict=True, reason=SHARED_GROUP_LOSS))],
    ids=["plain-subscription", "shared-subscription"],
)
async def test_broker_restarted_during_load(
    tmp_path: Path, fresh_mosquitto: Mosquitto, influxd: Influxd, topic_prefix: str, group: str
) -> None:
    async with pipeline(tmp_path, fresh_mosquitto, influxd, topic_prefix, group=group) as p:
        await p.wait_more_produced(200)
        fresh_mosquitto.stop()
        await hold(OUTAGE_S)
        fresh_mosquitto.start()
        t0 = time.monotonic()
        await p.wait_more_produced(200, 60)
        recovery = time.monotonic() - t0
        wait_s = 60 if group == "" else 20  # the known-failing variant need not wait long
        assert_exact(await p.settle("broker restart", timeout_s=wait_s, recovery_s=recovery))


async def test_ingest_sigkill_mid_batch_then_restart(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd, topic_prefix: str
) -> None:
    async with pipeline(tmp_path, mosquitto, influxd, topic_prefix) as p:
        await p.wait_stored(set(list(p.produced())[:1]) or set(), 60, "first stored")
        await p.wait_more_produced(300)
        p.ingest.kill()
        await p.wait_more_produced(300)
        p.restart_ingest()
        assert_exact(await p.settle("ingest SIGKILL"))


async def test_influxd_stopped_and_restarted_during_load(
    tmp_path: Path, mosquitto: Mosquitto, fresh_influxd: Influxd, topic_prefix: str
) -> None:
    async with pipeline(tmp_path, mosquitto, fresh_influxd, topic_prefix) as p:
        await p.wait_more_produced(200)
        fresh_influxd.stop()
        await hold(OUTAGE_S)
        fresh_influxd.start()
        assert_exact(await p.settle("influxd restart", timeout_s=90))


async def test_edge_sigkill_during_broker_outage_then_restart(
    tmp_path: Path, fresh_mosquitto: Mosquitto, influxd: Influxd, topic_prefix: str
) -> None:
    async with pipeline(tmp_path, fresh_mosquitto, influxd, topic_prefix, group="") as p:
        await p.wait_more_produced(200)
        fresh_mosquitto.stop()
        await hold(OUTAGE_S / 2)  # the agent polls and spools while the broker is down
        p.agent.kill()
        p.restart_agent()
        await hold(OUTAGE_S / 2)
        fresh_mosquitto.start()
        await p.wait_more_produced(200, 60)
        assert_exact(await p.settle("edge SIGKILL in broker outage"))
