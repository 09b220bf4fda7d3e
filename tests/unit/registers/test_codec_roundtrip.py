"""Property tests: encode_value -> decode_value / BlockDecoder round trips for every dtype and
byte order, with scale, offset, SunSpec scale factors, sentinels, strings and bits."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from peakline_core.config.profiles import ByteOrder, DataType, ModbusPoint
from peakline_core.errors import RegisterError
from peakline_core.registers import BlockDecoder, decode_value, encode_value

INTS = {
    DataType.INT16: (-(2**15), 2**15 - 1),
    DataType.UINT16: (0, 2**16 - 1),
    DataType.INT32: (-(2**31), 2**31 - 1),
    DataType.UINT32: (0, 2**32 - 1),
    DataType.INT64: (-(2**53), 2**53),  # exact in float64
    DataType.UINT64: (0, 2**53),
}
FLOAT_WIDTH = {DataType.FLOAT16: 16, DataType.FLOAT32: 32, DataType.FLOAT64: 64}
orders = st.sampled_from(list(ByteOrder))


def _point(**kw: Any) -> ModbusPoint:
    return ModbusPoint.model_validate({"name": "p", "table": "holding", "address": 7, **kw})


@given(st.sampled_from(list(INTS)), orders, st.data())
def test_integers_round_trip_exactly(
    dtype: DataType, order: ByteOrder, data: st.DataObject
) -> None:
    low, high = INTS[dtype]
    raw = data.draw(st.integers(low, high))
    point = _point(dtype=dtype.value, byte_order=order.value)
    regs = encode_value(point, raw)
    assert len(regs) == dtype.registers and all(0 <= r <= 0xFFFF for r in regs)
    assert decode_value(point, regs) == raw
    assert BlockDecoder([point], 7).decode(regs)[0] == raw


@given(st.sampled_from(list(FLOAT_WIDTH)), orders, st.data())
def test_floats_round_trip_at_their_precision(
    dtype: DataType, order: ByteOrder, data: st.DataObject
) -> None:
    value = data.draw(st.floats(width=FLOAT_WIDTH[dtype], allow_nan=False, allow_infinity=False))
    point = _point(dtype=dtype.value, byte_order=order.value)
    assert decode_value(point, encode_value(point, value)) == value


@given(
    st.sampled_from([DataType.INT16, DataType.INT32, DataType.UINT32]),
    orders,
    st.integers(0, 30_000),
    st.sampled_from([0.1, 0.01, 0.5, 2.0, 10.0]),
    st.floats(-1000, 1000, allow_nan=False),
)
def test_scale_and_offset_round_trip_to_the_register_resolution(
    dtype: DataType, order: ByteOrder, raw: int, scale: float, offset: float
) -> None:
    point = _point(dtype=dtype.value, byte_order=order.value, scale=scale, offset=offset)
    value = raw * scale + offset
    got = decode_value(point, encode_value(point, value))
    assert isinstance(got, float)
    assert got == pytest.approx(value, abs=scale / 2 + 1e-9 * abs(value))


@given(st.integers(-3, 3), st.integers(-32767, 32767), orders)
def test_sunspec_scale_factor_round_trips(sf: int, raw: int, order: ByteOrder) -> None:
    point = _point(dtype="int16", byte_order=order.value, scale_factor="p_sf")
    value = raw * 10.0**sf
    regs = encode_value(point, value, sf)
    assert regs == encode_value(_point(dtype="int16", byte_order=order.value), raw)
    got = decode_value(point, regs, sf)
    assert got == pytest.approx(value, rel=1e-12, abs=1e-12)
    vector = BlockDecoder([point], 7).decode(regs, np.array([float(sf)]))
    assert vector[0] == pytest.approx(value, rel=1e-12, abs=1e-12)


@given(st.sampled_from([DataType.INT16, DataType.UINT16, DataType.UINT32]), orders, st.data())
def test_sentinel_values_decode_to_no_reading(
    dtype: DataType, order: ByteOrder, data: st.DataObject
) -> None:
    low, high = INTS[dtype]
    sentinel = data.draw(st.integers(low, high))
    other = data.draw(st.integers(low, high))
    assume(other != sentinel)
    point = _point(dtype=dtype.value, byte_order=order.value, sentinel=[sentinel])
    assert decode_value(point, encode_value(point, sentinel)) is None
    assert math.isnan(BlockDecoder([point], 7).decode(encode_value(point, sentinel))[0])
    assert decode_value(point, encode_value(point, other)) == other


@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=20), orders)
def test_strings_round_trip(text: str, order: ByteOrder) -> None:
    point = _point(dtype="string", count=10, byte_order=order.value)
    regs = encode_value(point, text)
    assert len(regs) == 10
    assert decode_value(point, regs) == text


@given(st.integers(0, 15), st.integers(0, 0xFFFF), st.booleans())
def test_bits_round_trip_and_read_modify_write_keeps_neighbours(
    bit: int, register: int, value: bool
) -> None:
    point = _point(dtype="bit", bit=bit)
    [word] = encode_value(point, value)
    mask = 1 << bit
    written = (register & ~mask) | (word & mask)
    assert decode_value(point, [written]) is value
    assert written & ~mask == register & ~mask
    assert bool(BlockDecoder([point], 7).decode([written])[0]) is value


@given(st.booleans(), st.sampled_from(["coil", "discrete"]))
def test_coils_and_discrete_inputs(value: bool, table: str) -> None:
    point = ModbusPoint.model_validate({"name": "c", "table": table, "address": 0, "dtype": "bool"})
    assert decode_value(point, [bool(b) for b in encode_value(point, value)]) is value


@given(st.lists(st.tuples(st.sampled_from(list(INTS)), orders), min_size=1, max_size=12), st.data())
def test_block_decoder_decodes_many_points_at_once(
    layout: list[tuple[DataType, ByteOrder]], data: st.DataObject
) -> None:
    points, regs, expected = [], [], []
    for i, (dtype, order) in enumerate(layout):
        low, high = INTS[dtype]
        value = data.draw(st.integers(low, high))
        p = ModbusPoint.model_validate(
            {
                "name": f"p{i}",
                "table": "input",
                "address": 100 + len(regs),
                "dtype": dtype.value,
                "byte_order": order.value,
            }
        )
        points.append(p)
        regs += encode_value(p, value)
        expected.append(float(value))
    assert BlockDecoder(points, 100).decode(regs).tolist() == expected


def test_out_of_range_integer_is_refused() -> None:
    with pytest.raises(RegisterError):
        encode_value(_point(dtype="uint16"), 70000)
    with pytest.raises(RegisterError):
        encode_value(_point(dtype="int16"), math.inf)
