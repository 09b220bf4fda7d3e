"""The v1 wire contract: round trips, typed rejection of any bad input, a pinned golden shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peakline_core.errors import PayloadError
from peakline_core.wire import (
    AgentState,
    Command,
    CommandAck,
    CommandState,
    DeviceStatus,
    Quality,
    Reading,
    TelemetryBatch,
    decode_ack,
    decode_agent_state,
    decode_command,
    decode_device_status,
    decode_telemetry,
    encode,
)
from peakline_core.wire.payloads import MAX_PAYLOAD_BYTES

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
ids = st.text(ID_ALPHABET, min_size=1, max_size=64)
points = st.text(ID_ALPHABET + ".", min_size=1, max_size=64)
ns = st.integers(min_value=0, max_value=(1 << 63) - 1)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
readings = st.builds(
    Reading,
    point=points,
    ts=ns,
    value=values,
    quality=st.sampled_from(list(Quality)),
    unit=st.one_of(st.none(), st.text(max_size=32)),
)
batches = st.builds(
    TelemetryBatch,
    agent=ids,
    site=ids,
    device=ids,
    seq=st.integers(min_value=0, max_value=(1 << 63) - 1),
    sent=ns,
    readings=st.lists(readings, min_size=1, max_size=20),
)


@given(batches)
def test_telemetry_round_trip(batch: TelemetryBatch) -> None:
    assert decode_telemetry(encode(batch)) == batch


@given(
    st.builds(
        Command,
        id=ids,
        site=ids,
        device=ids,
        point=points,
        value=st.one_of(st.booleans(), st.integers(-1000, 1000), st.floats(-1e6, 1e6)),
        issued_at=ns,
        expires_at=ns,
        issuer=st.text(max_size=50),
        idempotency_key=st.one_of(st.none(), st.text(max_size=50)),
        dry_run=st.booleans(),
        revert_after_s=st.one_of(st.none(), st.floats(min_value=0.1, max_value=86400)),
    )
)
def test_command_round_trip(command: Command) -> None:
    assert decode_command(encode(command)) == command


@settings(max_examples=300)
@given(st.binary(max_size=2048))
def test_random_bytes_only_raise_payload_error(data: bytes) -> None:
    for decode in (decode_telemetry, decode_command, decode_ack, decode_agent_state):
        try:
            decode(data)
        except PayloadError as exc:
            assert exc.reason in {"malformed", "schema", "unsupported_version", "oversize"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(["v", "agent", "site", "device", "seq", "sent", "readings", "x"]),
        json_values,
    )
)
def test_random_json_objects_only_raise_payload_error(obj: dict[str, object]) -> None:
    try:
        decode_telemetry(json.dumps(obj).encode())
    except PayloadError:
        pass


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "malformed"),
        (b"{", "malformed"),
        (b"[]", "schema"),
        (
            b'{"v":2,"agent":"a","site":"s","device":"d","seq":1,"sent":1,"readings":[]}',
            "unsupported_version",
        ),
        (
            b'{"v":1,"agent":"a b","site":"s","device":"d","seq":1,"sent":1,'
            b'"readings":[{"point":"p","ts":1,"value":1}]}',
            "schema",
        ),
        (b'{"v":1,"agent":"a","site":"s","device":"d","seq":1,"sent":1,"readings":[]}', "schema"),
        (
            b'{"v":1,"agent":"a","site":"s","device":"d","seq":-1,"sent":1,'
            b'"readings":[{"point":"p","ts":1,"value":1}]}',
            "schema",
        ),
        (
            b'{"v":1,"agent":"a","site":"s","device":"d","seq":1,"sent":1,'
            b'"readings":[{"point":"p","ts":1,"value":NaN}]}',
            "malformed",
        ),
        (
            b'{"v":1,"agent":"a","site":"s","device":"d","seq":1,"sent":1,'
            b'"readings":[{"point":"p","ts":1,"value":1,"quality":"great"}]}',
            "schema",
        ),
        (b" " * (MAX_PAYLOAD_BYTES + 1), "oversize"),
    ],
)
def test_bad_telemetry_is_rejected_with_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError) as info:
        decode_telemetry(payload)
    assert info.value.reason == reason
    assert info.value.detail


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    data = (
        b'{"v":1,"agent":"a","site":"s","device":"d","seq":1,"sent":1,"future":true,'
        b'"readings":[{"point":"p","ts":1,"value":1,"extra":[1]}]}'
    )
    assert decode_telemetry(data).readings[0].value == 1


GOLDEN_MESSAGES = {
    "telemetry-v1.json": (
        TelemetryBatch(
            agent="gw-oldtown",
            site="rt-school",
            device="school-meter",
            seq=42,
            sent=1_767_225_600_500_000_000,
            readings=[
                Reading("power_total", 1_767_225_600_000_000_000, 15234.5, unit="W"),
                Reading("import_energy", 1_767_225_600_000_000_000, 81234, unit="kWh"),
                Reading("frequency", 1_767_225_600_000_000_000, None, Quality.ERROR, "Hz"),
                Reading("voltage_l1", 1_767_225_590_000_000_000, 229.8, Quality.STALE, "V"),
            ],
        ),
        decode_telemetry,
    ),
    "command-v1.json": (
        Command(
            id="c-7f3a",
            site="rt-school",
            device="school-hvac",
            point="setpoint",
            value=20.5,
            issued_at=1_767_225_600_000_000_000,
            expires_at=1_767_225_660_000_000_000,
            issuer="key:alice",
            idempotency_key="dash-1",
            revert_after_s=3600.0,
        ),
        decode_command,
    ),
    "ack-v1.json": (
        CommandAck(
            id="c-7f3a",
            agent="gw-oldtown",
            site="rt-school",
            device="school-hvac",
            point="setpoint",
            state=CommandState.APPLIED,
            ts=1_767_225_601_000_000_000,
            readback=20.5,
            previous=21.0,
        ),
        decode_ack,
    ),
    "agent-state-v1.json": (
        AgentState(
            agent="gw-oldtown", state="offline", ts=1_767_225_600_000_000_000, version="0.1.0"
        ),
        decode_agent_state,
    ),
    "device-status-v1.json": (
        DeviceStatus(
            agent="gw-oldtown",
            site="rt-school",
            device="school-meter",
            state="unavailable",
            ts=1_767_225_600_000_000_000,
            reason="3 timeouts",
            last_ok=1_767_225_570_000_000_000,
        ),
        decode_device_status,
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_MESSAGES))
def test_golden_v1_shape_is_pinned(name: str) -> None:
    """Changing the v1 wire shape must be deliberate: regenerate the golden file and bump v."""
    message, decode = GOLDEN_MESSAGES[name]
    golden = (GOLDEN / name).read_bytes()
    assert json.loads(encode(message)) == json.loads(golden)
    assert decode(golden) == message
