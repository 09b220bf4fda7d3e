"""The fixtures start real servers: publish through mosquitto, write and read influxd."""

from __future__ import annotations

import asyncio
import urllib.request

import aiomqtt

from peakline_core.wire import (
    Reading,
    TelemetryBatch,
    TopicKind,
    Topics,
    decode_telemetry,
    encode,
)


async def test_publish_through_real_mosquitto(mosquitto, topic_prefix):
    topics = Topics(topic_prefix)
    batch = TelemetryBatch(
        agent="gw",
        site="s1",
        device="d1",
        seq=7,
        sent=1,
        readings=[Reading("power", 1_700_000_000_000_000_000, 1234.5, unit="W")],
    )
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as sub:
        await sub.subscribe(topics.filter(TopicKind.TELEMETRY), qos=1)
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as pub:
            await pub.publish(topics.telemetry("s1", "d1"), encode(batch), qos=1)
        async with asyncio.timeout(10):
            message = await anext(aiter(sub.messages))
    assert str(message.topic) == topics.telemetry("s1", "d1")
    assert decode_telemetry(message.payload) == batch


def test_write_and_read_real_influxd(influx_db):
    body = b"reading,site=s1,device=d1,point=power value=42.5 1700000000000000000\n"
    req = urllib.request.Request(
        f"{influx_db.url}/write?db={influx_db.database}&precision=ns", data=body, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204
    result = influx_db.query("SELECT value FROM reading WHERE site = 's1'")
    series = result["results"][0]["series"][0]
    assert series["values"] == [["2023-11-14T22:13:20Z", 42.5]]


def test_broker_restart_keeps_port(fresh_mosquitto):
    port = fresh_mosquitto.port
    fresh_mosquitto.stop()
    assert not fresh_mosquitto.running
    fresh_mosquitto.start()
    assert fresh_mosquitto.port == port and fresh_mosquitto.ready()


def test_serial_pair_carries_bytes(serial_pair):
    import os
    import termios
    import tty

    fa = os.open(serial_pair.a, os.O_RDWR | os.O_NOCTTY)
    fb = os.open(serial_pair.b, os.O_RDWR | os.O_NOCTTY)
    try:
        for fd in (fa, fb):
            tty.setraw(fd, termios.TCSANOW)
        os.write(fa, b"\x01\x03\x00\x00\x00\x01")
        got = b""
        import select

        while len(got) < 6:
            ready, _, _ = select.select([fb], [], [], 5)
            assert ready, "no bytes crossed the pty pair"
            got += os.read(fb, 64)
        assert got == b"\x01\x03\x00\x00\x00\x01"
    finally:
        os.close(fa)
        os.close(fb)
