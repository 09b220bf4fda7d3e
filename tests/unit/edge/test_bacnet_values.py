"""Present-values between BACnet and the platform by object type: the decoded reading (float,
bool like a Modbus coil, state number), the datatype written (pinned by its encoded bytes,
ASHRAE 135 clause 20.2: application tags 4 REAL, 9 ENUMERATED, 2 Unsigned) and refusals."""

from __future__ import annotations

import math

import pytest
from bacpypes3.basetypes import BinaryPV, PriorityValue
from bacpypes3.primitivedata import CharacterString, Null, Real, Unsigned
from hypothesis import given
from hypothesis import strategies as st

from peakline_edge.bacnet.values import (
    decode_present_value,
    encode_present_value,
    kind_of,
    slot_value,
)


def _bytes(value: object) -> str:
    return value.encode().encode().pduData.hex()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("object_type", "value", "wire"),
    [
        ("binary-value", True, "9101"),  # ENUMERATED 1 active
        ("binary-output", 1, "9101"),
        ("binary-value", False, "9100"),  # ENUMERATED 0 inactive
        ("binary-value", 0, "9100"),
        ("multi-state-value", 3, "2103"),  # Unsigned 3
        ("multi-state-output", 2.0, "2102"),
        ("analog-value", 21.5, "4441ac0000"),  # REAL 21.5, IEEE 754 big-endian
    ],
)
def test_written_datatype_known_bytes(object_type: str, value: float, wire: str) -> None:
    assert _bytes(encode_present_value(object_type, value)) == wire


@pytest.mark.parametrize(
    ("object_type", "value"),
    [
        ("binary-value", 2), ("binary-value", 0.5), ("binary-value", -1),
        ("multi-state-value", 0), ("multi-state-value", 1.5), ("multi-state-value", True),
        ("multi-state-value", math.inf), ("analog-value", math.nan), ("analog-value", True),
    ],
)  # fmt: skip
def test_values_the_object_type_cannot_hold_are_refused(object_type: str, value: float) -> None:
    with pytest.raises(ValueError):
        encode_present_value(object_type, value)


# (the bacpypes3 values are built in the tests: pytest plugins choke on them as parameters)
@pytest.mark.parametrize(
    ("object_type", "datatype", "arg", "reading"),
    [
        ("binary-input", BinaryPV, "active", True),
        ("binary-value", BinaryPV, "inactive", False),
        ("multi-state-value", Unsigned, 2, 2),
        ("multi-state-input", Unsigned, 7, 7),
        ("analog-input", Real, 14.5, 14.5),
    ],
)
def test_decoded_reading_and_its_type(
    object_type: str, datatype: type, arg: object, reading: object
) -> None:
    got = decode_present_value(object_type, datatype(arg))
    assert got == reading and type(got) is type(reading)


@pytest.mark.parametrize(
    ("object_type", "datatype", "arg"),
    [
        ("binary-value", Unsigned, 1),  # not a BinaryPV
        ("multi-state-value", BinaryPV, "active"),
        ("multi-state-value", Unsigned, 0),  # states start at 1
        ("analog-input", BinaryPV, "active"),
        ("analog-input", CharacterString, "on"),
    ],
)
def test_a_reply_of_the_wrong_type_is_undecodable(
    object_type: str, datatype: type, arg: object
) -> None:
    with pytest.raises(ValueError):
        decode_present_value(object_type, datatype(arg))


def test_only_input_output_value_objects_have_a_kind() -> None:
    assert [kind_of(t) for t in ("analog-value", "binary-input", "multi-state-output")] == [
        "analog",
        "binary",
        "multi-state",
    ]
    with pytest.raises(ValueError):
        kind_of("device")


def test_priority_slots_of_each_type() -> None:
    assert slot_value(PriorityValue(null=Null(()))) is None
    assert slot_value(PriorityValue(enumerated=BinaryPV("inactive"))) == 0.0  # not "empty"
    assert slot_value(PriorityValue(enumerated=BinaryPV("active"))) == 1.0
    assert slot_value(PriorityValue(unsigned=Unsigned(3))) == 3.0
    assert slot_value(PriorityValue(real=Real(23.5))) == 23.5


@given(st.booleans())
def test_binary_round_trip(on: bool) -> None:
    wire = encode_present_value("binary-value", on)
    assert decode_present_value("binary-value", wire) is on


@given(st.integers(min_value=1, max_value=2**32 - 1))
def test_multi_state_round_trip(state: int) -> None:
    wire = encode_present_value("multi-state-value", state)
    assert decode_present_value("multi-state-value", wire) == state
