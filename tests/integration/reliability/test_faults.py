"""Fault injection through the whole pipeline (firmware-sim -> edge process -> mosquitto ->
ingest process -> influxd), each scenario comparing storage with what the edge produced,
reading by reading: zero lost, zero duplicated, except what a stated policy drops, counted
exactly. Outages last seconds (harness.OUTAGE_S), not minutes, so the suite fits CI; the
mechanisms (disk spool, persistent sessions, ack after write) do not depend on the length."""

from __future__ import annotations

from pathlib import Path

import pytest

from peakline_testing.servers import Influxd, Mosquitto
from tests.integration.reliability import scenarios
from tests.integration.reliability.harness import assert_exact

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.mark.parametrize("group", ["", "ingest"], ids=["plain-subscription", "shared-subscription"])
async def test_broker_restarted_during_load(
    tmp_path: Path, fresh_mosquitto: Mosquitto, influxd: Influxd, topic_prefix: str, group: str
) -> None:
    assert_exact(
        await scenarios.broker_restart(tmp_path, fresh_mosquitto, influxd, topic_prefix, group)
    )


async def test_ingest_sigkill_mid_batch_then_restart(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd, topic_prefix: str
) -> None:
    assert_exact(await scenarios.ingest_sigkill(tmp_path, mosquitto, influxd, topic_prefix))


async def test_influxd_stopped_and_restarted_during_load(
    tmp_path: Path, mosquitto: Mosquitto, fresh_influxd: Influxd, topic_prefix: str
) -> None:
    assert_exact(await scenarios.influxd_restart(tmp_path, mosquitto, fresh_influxd, topic_prefix))


async def test_edge_sigkill_during_broker_outage_then_restart(
    tmp_path: Path, fresh_mosquitto: Mosquitto, influxd: Influxd, topic_prefix: str
) -> None:
    tally = await scenarios.edge_sigkill_in_broker_outage(
        tmp_path, fresh_mosquitto, influxd, topic_prefix
    )
    assert_exact(tally)


async def test_spool_full_drops_oldest_and_counts_exactly(
    tmp_path: Path, fresh_mosquitto: Mosquitto, influxd: Influxd, topic_prefix: str
) -> None:
    tally, policy = await scenarios.spool_full(tmp_path, fresh_mosquitto, influxd, topic_prefix)
    assert policy["readings_per_batch"] > 0  # every batch carries one device's full profile
    # the policy's count is exact: every sequence gap is a dropped batch and nothing else is
    assert policy["reported_dropped_batches"] == policy["missing_batches"] > 0
    assert (
        policy["reported_dropped_readings"]
        == policy["missing_batches"] * policy["readings_per_batch"]
    )
    assert_exact(tally)  # everything the policy did not drop is stored, once


async def test_partition_between_edge_and_broker_heals(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd, topic_prefix: str
) -> None:
    assert_exact(await scenarios.partition(tmp_path, mosquitto, influxd, topic_prefix))
