"""peakline-ingest over MQTT 3.1.1 (brokers without MQTT 5): same no-loss guarantee.

3.1.1 has no Receive Maximum (the broker's own in-flight window caps what the worker holds);
each message is still acknowledged only after its durable write, so a SIGKILL loses nothing.
"""

from __future__ import annotations

import threading

import pytest

from peakline_core.wire import Topics
from peakline_testing.waiting import wait_until
from tests.integration.ingest.support import (
    T0,
    Publisher,
    expected_values,
    influx_count,
    influx_values,
    ingest_args,
    make_batch,
    start,
    store_url,
    telemetry,
)

pytestmark = pytest.mark.timeout(300)


def test_mqtt311_sigkill_mid_stream_loses_nothing(
    mosquitto, influx_db, topic_prefix, tmp_path
) -> None:
    topics = Topics(topic_prefix)
    batches = [make_batch("a1", "s1", "m1", seq, 100, T0) for seq in range(400)]
    items = telemetry(topics, batches)
    args = ingest_args(
        mosquitto.url,
        store_url(influx_db),
        topic_prefix,
        tmp_path / "state",
        mqtt_protocol="3.1.1",
        group="",
        max_in_flight="20",
    )
    proc, _ = start(args, tmp_path, "w1")
    pub = Publisher(mosquitto.url)
    sender = threading.Thread(target=pub.publish, args=(items,))
    try:
        sender.start()
        wait_until(lambda: influx_count(influx_db) >= 3000, 120, "some readings stored")
        proc.kill()  # SIGKILL: no flush, no acks for what it held
        sender.join(120)
        proc, _ = start(args, tmp_path, "w1-again")
        wait_until(lambda: influx_count(influx_db) >= 40_000, 180, "all readings stored")
        assert influx_values(influx_db) == expected_values(batches)
    finally:
        sender.join(120)
        pub.close()
        proc.terminate()


def test_password_file_that_cannot_be_read_fails_fast(
    mosquitto, influx_db, topic_prefix, tmp_path
) -> None:
    from tests.integration.ingest.support import IngestProcess

    args = ingest_args(
        mosquitto.url,
        store_url(influx_db),
        topic_prefix,
        tmp_path / "state",
        password_file=str(tmp_path / "missing"),
    )
    proc = IngestProcess(args, tmp_path)
    proc.start()
    assert proc.proc is not None
    code = proc.proc.wait(60)
    assert code != 0
    assert "cannot read MQTT password file" in proc.log
