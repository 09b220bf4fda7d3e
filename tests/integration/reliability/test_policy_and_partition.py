"""A gateway whose spool fills during a broker outage drops by its stated policy (oldest
batches first) and counts exactly what it dropped; a network partition between the edge and
the broker heals with nothing lost or duplicated. Both through the whole pipeline."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from harness import OUTAGE_S, assert_exact, hold, pipeline, until_async
from partition_proxy import partition_proxy

from peakline_cli.servers import Influxd, Mosquitto

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
SPOOL_CAP = {"max_bytes": 48 * 1024}  # a few seconds of three meters at 2 Hz


async def test_spool_full_drops_oldest_and_counts_exactly(
    tmp_path: Path, fresh_mosquitto: Mosquitto, influxd: Influxd, topic_prefix: str
) -> None:
    async with pipeline(
        tmp_path, fresh_mosquitto, influxd, topic_prefix, spool=SPOOL_CAP, group=""
    ) as p:
        await p.wait_more_produced(200)
        fresh_mosquitto.stop()
        await until_async(
            lambda: p.edge_health().get("spool", {}).get("dropped_batches", 0) >= 10,
            60, "the spool cap to drop batches",
        )  # fmt: skip
        fresh_mosquitto.start()
        tally = await p.settle("spool full")
        health = p.edge_health()["spool"]
    seqs = sorted({b.seq for b in p.collector.batches})
    missing = set(range(seqs[0], seqs[-1] + 1)) - set(seqs)
    sizes = Counter(len(b.readings) for b in p.collector.batches)
    assert len(sizes) == 1, sizes  # every batch carries one device's full profile
    (per_batch,) = sizes
    # the policy's count is exact: every sequence gap is a dropped batch and nothing else is
    assert health["dropped_batches"] == len(missing) > 0
    assert health["dropped_readings"] == len(missing) * per_batch
    assert_exact(tally)  # everything not dropped by the policy is stored, once


async def test_partition_between_edge_and_broker_heals(
    tmp_path: Path, mosquitto: Mosquitto, influxd: Influxd, topic_prefix: str
) -> None:
    async with (
        partition_proxy(mosquitto.host, mosquitto.port) as proxy,
        pipeline(tmp_path, mosquitto, influxd, topic_prefix, broker_url_for_edge=proxy.url) as p,
    ):
        await p.wait_more_produced(200)
        await proxy.cut()
        await until_async(lambda: not p.edge_health().get("uplink_connected", True), 30, "cut")
        await hold(OUTAGE_S)
        await proxy.restore()
        t0 = time.monotonic()
        await until_async(p.spool_drained, 60, "the edge to reconnect and drain")
        recovery = time.monotonic() - t0
        assert_exact(await p.settle("partition", recovery_s=recovery))
