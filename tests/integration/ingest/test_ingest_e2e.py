"""peakline-ingest against real mosquitto and influxd: what was published is what is stored."""

from __future__ import annotations

import threading
from collections import Counter

import httpx
import msgspec
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from peakline_core.wire import DeadLetter, Topics, encode
from peakline_testing.waiting import wait_until
from tests.integration.ingest.support import (
    T0,
    Publisher,
    expected_values,
    influx_count,
    influx_values,
    ingest_args,
    ingest_ready,
    make_batch,
    metric,
    start,
    store_url,
    telemetry,
)

pytestmark = pytest.mark.timeout(300)

READINGS = "peakline_ingest_readings_total"


def test_published_is_stored_exactly(mosquitto, influx_db, topic_prefix, tmp_path) -> None:
    topics = Topics(topic_prefix)
    batches = [
        make_batch("a1", "s1", f"d{d}", seq * 3 + d, 50, T0) for seq in range(40) for d in range(3)
    ]
    args = ingest_args(mosquitto.url, store_url(influx_db), topic_prefix, tmp_path / "state")
    proc, port = start(args, tmp_path, "w1")
    pub = Publisher(mosquitto.url)
    try:
        pub.publish(telemetry(topics, batches))
        wait_until(lambda: influx_count(influx_db) >= 6000, 120, "6000 readings stored")
        assert influx_values(influx_db) == expected_values(batches)
        # The counter moves after a batch's derived rows are written and its acks sent, a
        # moment after its readings become visible in influxd: wait for it, then insist.
        wait_until(lambda: metric(port, READINGS) >= 6000, 30, "readings counted")
        assert metric(port, READINGS) == 6000
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    finally:
        pub.close()
        assert proc.terminate() == 0, proc.log


def test_sigkill_mid_stream_loses_nothing(mosquitto, influx_db, topic_prefix, tmp_path) -> None:
    topics = Topics(topic_prefix)
    batches = [make_batch("a1", "s1", "m1", seq, 100, T0) for seq in range(600)]
    items = telemetry(topics, batches)
    args = ingest_args(mosquitto.url, store_url(influx_db), topic_prefix, tmp_path / "state")
    # Register the persistent session first, so the broker queues for it while it is dead.
    proc, _ = start(args, tmp_path, "w1")
    pub = Publisher(mosquitto.url)
    sender = threading.Thread(target=pub.publish, args=(items,))
    try:
        sender.start()
        wait_until(lambda: influx_count(influx_db) >= 5000, 120, "some readings stored")
        proc.kill()  # SIGKILL: no flush, no acks for what it held
        assert influx_count(influx_db) < 60_000
        sender.join(120)
        proc, _ = start(args, tmp_path, "w1-again")
        wait_until(lambda: influx_count(influx_db) >= 60_000, 180, "all readings stored")
        assert influx_values(influx_db) == expected_values(batches)
    finally:
        sender.join(120)
        pub.close()
        proc.terminate()


def test_influxd_outage_holds_and_then_stores_everything(
    mosquitto, fresh_influxd, topic_prefix, tmp_path
) -> None:
    fresh_influxd.query('CREATE DATABASE "out"')

    class Db:
        url = fresh_influxd.url
        database = "out"

    topics = Topics(topic_prefix)
    before = [make_batch("a1", "s1", "m1", seq, 20, T0) for seq in range(50)]
    during = [make_batch("a1", "s1", "m1", seq, 20, T0) for seq in range(50, 300)]
    args = ingest_args(mosquitto.url, store_url(Db), topic_prefix, tmp_path / "state")
    proc, port = start(args, tmp_path, "w1")
    pub = Publisher(mosquitto.url)
    try:
        pub.publish(telemetry(topics, before))
        wait_until(lambda: influx_count(Db) >= 1000, 60, "first readings stored")
        fresh_influxd.stop()
        pub.publish(telemetry(topics, during))
        # Seven retries with backoff capped at 15 s: the database stays down for over 30 s.
        wait_until(lambda: metric(port, "peakline_ingest_write_retries_total") >= 7, 120, "retries")
        assert proc.proc.poll() is None  # type: ignore[union-attr]
        assert not ingest_ready(port)
        fresh_influxd.start()
        wait_until(lambda: influx_count(Db) >= 6000, 120, "all readings stored")
        assert influx_values(Db) == expected_values(before + during)
    finally:
        pub.close()
        assert proc.terminate() == 0, proc.log


def test_two_workers_on_a_shared_subscription_store_each_reading_once(
    mosquitto, influx_db, topic_prefix, tmp_path
) -> None:
    topics = Topics(topic_prefix)
    batches = [make_batch("a1", "s1", f"d{seq % 7}", seq, 25, T0) for seq in range(800)]
    args = ingest_args(mosquitto.url, store_url(influx_db), topic_prefix, tmp_path / "state")
    w1, p1 = start([*args, "--client-id", f"{topic_prefix}-w1"], tmp_path, "w1")
    w2, p2 = start([*args, "--client-id", f"{topic_prefix}-w2"], tmp_path, "w2")
    pub = Publisher(mosquitto.url)
    try:
        pub.publish(telemetry(topics, batches))
        wait_until(lambda: influx_count(influx_db) >= 20_000, 120, "all readings stored")
        assert influx_values(influx_db) == expected_values(batches)
        wait_until(lambda: metric(p1, READINGS) + metric(p2, READINGS) >= 20_000, 30, "counted")
        r1 = metric(p1, READINGS)
        r2 = metric(p2, READINGS)
        assert r1 > 0 and r2 > 0
        assert r1 + r2 == 20_000  # each message handled by exactly one worker
    finally:
        pub.close()
        w1.terminate()
        w2.terminate()


def hostile_payloads(topics: Topics, n: int) -> list[tuple[str, bytes, str]]:
    """(topic, payload, expected reason) for n bad messages of many kinds."""
    good = make_batch("a1", "s1", "m1", 0, 3, T0)
    raw = encode(good)
    tele = topics.telemetry("s1", "m1")
    far = 10**19 // 2  # year 2128
    kinds = [
        (tele, b"\x00\xff not json", "malformed"),
        (tele, raw[: len(raw) // 2], "malformed"),
        (tele, b'{"v":1,"agent":"a1"}', "schema"),
        (tele, raw.replace(b'"v":1', b'"v":2'), "unsupported_version"),
        (tele, raw.replace(b'"p0"', b'"p 0,=\\""'), "schema"),
        (tele, raw.replace(b"0.25", b"1e999", 1), "non_finite"),
        (tele, raw.replace(str(T0).encode(), str(far).encode()), "timestamp_future"),
        (topics.telemetry("s1", "other"), raw, "topic_mismatch"),
        (tele, b"[" * 100_000, "schema"),
        (tele, b"{" * 100_000, "malformed"),
        (tele, b" " * (1 << 20) + b"{}", "oversize"),
        (tele, '{"v":1,"agent":"ü\\n\'"}'.encode(), "schema"),
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


def test_hostile_payloads_are_dead_lettered_and_valid_ones_stored(
    mosquitto, influx_db, topic_prefix, tmp_path
) -> None:
    topics = Topics(topic_prefix)
    host, port = mosquitto.host, mosquitto.port
    dead: list[DeadLetter] = []
    got_all = threading.Event()
    bad = hostile_payloads(topics, 2200)
    valid = [make_batch("a1", "s1", "m1", seq, 10, T0) for seq in range(1, 301)]
    dups = valid[:100]

    def on_message(client, userdata, message) -> None:  # type: ignore[no-untyped-def]
        dead.append(msgspec.json.decode(message.payload, type=DeadLetter))
        if len(dead) >= len(bad) + len(dups):
            got_all.set()

    listener = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    listener.on_message = on_message
    listener.connect(host, port)
    listener.subscribe(topics.dead_letter("ingest"), qos=1)
    listener.loop_start()
    args = ingest_args(mosquitto.url, store_url(influx_db), topic_prefix, tmp_path / "state")
    proc, hport = start(args, tmp_path, "w1")
    pub = Publisher(mosquitto.url)
    try:
        mixed = telemetry(topics, valid)
        items: list[tuple[str, bytes]] = []
        for i, (topic, payload, _) in enumerate(bad):
            items.append((topic, payload))
            if i % 8 == 0 and mixed:
                items.append(mixed.pop())
        items.extend(mixed)
        pub.publish(items)
        wait_until(lambda: influx_count(influx_db) >= 3000, 120, "valid readings stored")
        pub.publish(telemetry(topics, dups))  # already stored: duplicates
        wait_until(got_all.is_set, 120, "every dead letter")
        assert influx_values(influx_db) == expected_values(valid)
        reasons = Counter(d.reason for d in dead)
        assert reasons == Counter([r for _, _, r in bad] + ["duplicate"] * len(dups))
        assert all(d.detail and d.component == "ingest" for d in dead)
        assert metric(hport, "peakline_ingest_rejects_total") == len(bad) + len(dups)
        assert proc.proc.poll() is None and ingest_ready(hport)  # type: ignore[union-attr]
    finally:
        pub.close()
        listener.loop_stop()
        listener.disconnect()
        assert proc.terminate() == 0, proc.log
