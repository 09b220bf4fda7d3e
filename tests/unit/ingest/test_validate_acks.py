"""Validation reasons, the seq window, ordered acks, InfluxQL quoting and auth headers."""

from __future__ import annotations

import pytest

from peakline_core.storage import SeriesQuery
from peakline_core.wire import Reading, TelemetryBatch, Topics, encode
from peakline_ingest.acks import OrderedAcks
from peakline_ingest.validate import DeviceIdentity, Rejected, Validator
from peakline_store.influx import auth_headers
from peakline_store.influxql import check_duration, range_query

S = 1_000_000_000
NOW = 1_700_000_000 * S
TOPICS = Topics("t")


def payload(ts: int = NOW, value: object = 1.5, device: str = "m1", seq: int = 1) -> bytes:
    return encode(TelemetryBatch("a1", "s1", device, seq, NOW, [Reading("p", ts, value)]))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("topic", "body", "reason"),
    [
        ("other/x", payload(), "bad_topic"),
        ("t/v1/cmd/s1/m1", payload(), "bad_topic"),
        ("t/v1/tele/s1/m1", b"{", "malformed"),
        ("t/v1/tele/s1/m2", payload(), "topic_mismatch"),
        ("t/v1/tele/s1/x9", payload(device="x9"), "unknown_device"),
        ("t/v1/tele/s1/m1", payload(ts=NOW + 600 * S), "timestamp_future"),
        ("t/v1/tele/s1/m1", payload(ts=NOW - 100 * 86400 * S), "timestamp_past"),
        ("t/v1/tele/s1/m1", payload().replace(b"1.5", b"1e999"), "non_finite"),
    ],
)
def test_rejections_have_reasons(topic: str, body: bytes, reason: str) -> None:
    v = Validator(TOPICS, {"m1": DeviceIdentity("s1", "a1"), "m2": DeviceIdentity("s1", "a1")})
    with pytest.raises(Rejected) as info:
        v.validate(topic, body, NOW)
    assert info.value.reason == reason


def test_columns_and_duplicates_after_commit() -> None:
    v = Validator(TOPICS)
    body = encode(
        TelemetryBatch(
            "a1", "s1", "m1", 7, NOW,
            [Reading("a", NOW, 2), Reading("b", NOW, True), Reading("c", NOW, "on"), Reading("d", NOW, None)],  # noqa: E501
        )
    )  # fmt: skip
    ok = v.validate("t/v1/tele/s1/m1", body, NOW)
    assert ok.value[:2].tolist() == [2.0, 1.0] and ok.text == [None, None, "on", None]
    v.validate("t/v1/tele/s1/m1", body, NOW)  # not stored yet: a redelivery is accepted
    v.window.commit("a1", 7)
    with pytest.raises(Rejected, match="duplicate"):
        v.validate("t/v1/tele/s1/m1", body, NOW)


def test_acks_leave_in_receive_order_and_only_on_their_connection() -> None:
    sent: list[int] = []
    acks = OrderedAcks()
    acks.connected(lambda mid, qos: sent.append(mid))
    a, b, c = (acks.register(m, 1) for m in (1, 2, 3))
    acks.done(b)
    assert sent == []
    acks.done(a)
    assert sent == [1, 2]
    acks.connected(lambda mid, qos: sent.append(-mid))  # reconnect: old packet ids are void
    acks.done(c)
    assert sent == [1, 2]


def test_influxql_quotes_hostile_values() -> None:
    q = SeriesQuery("reading", 'va"l', 0, 10, where={"site": ["a' OR 1=1 --", "b\\"]})
    text = range_query(q)
    assert "'a\\' OR 1=1 --'" in text and "'b\\\\'" in text and '"va\\"l"' in text
    with pytest.raises(ValueError):
        check_duration("1d; DROP DATABASE x")


def test_auth_headers() -> None:
    assert auth_headers(token="tok") == {"Authorization": "Token tok"}
    assert auth_headers(username="u", password="p") == {"Authorization": "Basic dTpw"}
    assert auth_headers() == {}
