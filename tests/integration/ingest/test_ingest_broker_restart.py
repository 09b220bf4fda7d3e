"""Ingest on the default shared subscription across a mosquitto restart: nothing lost.

mosquitto 2.0 does not persist shared subscriptions: what is published after a restart and
before a worker subscribes again matches no subscriber. Here that window is made wide and
deterministic (the workers are down while the broker restarts and the publisher sends), so
only the restart guard (peakline_ingest.restart_guard) can bring those readings in.
"""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from peakline_core.wire import Topics
from peakline_testing.servers import Mosquitto
from peakline_testing.waiting import wait_until
from tests.integration.ingest.support import (
    T0,
    Publisher,
    expected_values,
    influx_count,
    influx_values,
    ingest_args,
    make_batch,
    metric,
    start,
    store_url,
    telemetry,
)

pytestmark = pytest.mark.timeout(300)


def _client(broker: Mosquitto, client_id: str) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id, protocol=mqtt.MQTTv5)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 600
    client.connect(broker.host, broker.port, clean_start=False, properties=props)
    client.loop_start()
    return client


def test_mosquitto_forgets_shared_subscriptions_on_restart(
    fresh_mosquitto: Mosquitto, topic_prefix: str
) -> None:
    """The broker behaviour the guard exists for: a persistent session comes back from a
    restart, its plain subscription too, its shared subscription not (PUBACK reason 16 "no
    matching subscribers" when only the shared one matched)."""
    topics = Topics(topic_prefix)
    plain, shared = topics.telemetry("s1", "plain"), topics.telemetry("s1", "shared")
    acked: set[int] = set()
    sub = _client(fresh_mosquitto, f"{topic_prefix}-sub")
    sub.on_subscribe = lambda c, u, mid, codes, props: acked.add(mid)
    mids = {sub.subscribe(f, qos=1)[1] for f in (plain, topics.shared("g", shared))}
    wait_until(lambda: mids <= acked, 20, "two SUBACKs")
    sub.loop_stop()
    sub.disconnect()
    fresh_mosquitto.stop()
    fresh_mosquitto.start()
    reasons: dict[int, int] = {}
    pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    pub.on_publish = lambda c, u, mid, rc, props: reasons.__setitem__(mid, rc.value)
    pub.connect(fresh_mosquitto.host, fresh_mosquitto.port)
    pub.loop_start()
    try:
        mids = {topic: pub.publish(topic, b"x", qos=1).mid for topic in (plain, shared)}
        wait_until(lambda: len(reasons) == 2, 20, "two PUBACKs")
    finally:
        pub.loop_stop()
        pub.disconnect()
    assert reasons[mids[plain]] == 0  # queued for the restored plain subscription
    assert reasons[mids[shared]] == 16  # the shared subscription is gone


def test_two_workers_store_what_was_published_before_they_subscribed_again(
    fresh_mosquitto: Mosquitto, influx_db: object, topic_prefix: str, tmp_path: Path
) -> None:
    topics = Topics(topic_prefix)
    batch = [make_batch("a1", "s1", f"d{seq % 5}", seq, 20, T0) for seq in range(300)]
    before, gap, after = batch[:100], batch[100:200], batch[200:]
    args = ingest_args(fresh_mosquitto.url, store_url(influx_db), topic_prefix, tmp_path / "state")
    names = [f"{topic_prefix}-w1", f"{topic_prefix}-w2"]
    workers = [start([*args, "--client-id", n], tmp_path, n) for n in names]
    pub = Publisher(fresh_mosquitto.url)
    try:
        pub.publish(telemetry(topics, before))
        wait_until(lambda: influx_count(influx_db) >= 2000, 120, "first readings stored")
    finally:
        pub.close()
        for proc, _ in workers:
            assert proc.terminate() == 0, proc.log
    fresh_mosquitto.stop()
    fresh_mosquitto.start()
    pub = Publisher(fresh_mosquitto.url)  # nobody holds the shared subscription now
    try:
        pub.publish(telemetry(topics, gap))
        workers = [start([*args, "--client-id", n], tmp_path, f"{n}-again") for n in names]
        pub.publish(telemetry(topics, after))
        wait_until(lambda: influx_count(influx_db) >= 6000, 120, "every reading stored")
        assert influx_values(influx_db) == expected_values(batch)
        recovered = sum(
            metric(port, "peakline_ingest_guard_recovered_total") for _, port in workers
        )
        assert recovered >= len(gap)  # each worker's guard had the gap queued
    finally:
        pub.close()
        for proc, _ in workers:
            assert proc.terminate() == 0, proc.log
