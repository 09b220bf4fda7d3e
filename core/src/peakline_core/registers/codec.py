"""Register codec: engineering values <-> Modbus registers, for every dtype and byte order.

Decoding is vectorized per block: points are grouped by (dtype, byte order), their words are
gathered with one fancy index, put in big-endian byte order with two involutions (swap bytes in
each word; reverse word order), and reinterpreted with one `view`. The same permutation encodes,
because both steps are their own inverse.

Engineering value = raw * scale * 10**sf + offset, where sf is the SunSpec scale-factor exponent
(0 when the point has none).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from peakline_core.config.profiles import ByteOrder, DataType, ModbusPoint
from peakline_core.errors import RegisterError

_NUMPY: Final[dict[DataType, str]] = {
    DataType.INT16: ">i2",
    DataType.UINT16: ">u2",
    DataType.INT32: ">i4",
    DataType.UINT32: ">u4",
    DataType.INT64: ">i8",
    DataType.UINT64: ">u8",
    DataType.FLOAT16: ">f2",
    DataType.FLOAT32: ">f4",
    DataType.FLOAT64: ">f8",
}
_SWAP_BYTES = (ByteOrder.BADC, ByteOrder.DCBA)
_SWAP_WORDS = (ByteOrder.CDAB, ByteOrder.DCBA)

U16 = npt.NDArray[np.uint16]
F64 = npt.NDArray[np.float64]


def _words_to_bytes(words: U16, order: ByteOrder) -> npt.NDArray[np.uint8]:
    """[n, w] wire words -> [n, 2w] bytes in big-endian (ABCD) order."""
    n, w = words.shape
    b = np.empty((n, w, 2), dtype=np.uint8)
    b[..., 0] = words >> 8
    b[..., 1] = words & 0xFF
    if order in _SWAP_BYTES:
        b = b[..., ::-1]
    if order in _SWAP_WORDS:
        b = b[:, ::-1, :]
    return np.ascontiguousarray(b).reshape(n, 2 * w)


def _bytes_to_words(data: npt.NDArray[np.uint8], order: ByteOrder) -> U16:
    """[n, 2w] big-endian bytes -> [n, w] wire words (the inverse of _words_to_bytes)."""
    n, nbytes = data.shape
    b = data.reshape(n, nbytes // 2, 2)
    if order in _SWAP_WORDS:
        b = b[:, ::-1, :]
    if order in _SWAP_BYTES:
        b = b[..., ::-1]
    return ((b[..., 0].astype(np.uint16) << 8) | b[..., 1]).astype(np.uint16)


def raw_values(words: U16, dtype: DataType, order: ByteOrder) -> npt.NDArray[np.generic]:
    """Reinterpret [n, width] wire words as n raw values of `dtype` (native byte order)."""
    data = _words_to_bytes(words, order)
    return data.view(_NUMPY[dtype]).reshape(words.shape[0]).astype(_NUMPY[dtype][1:])


@dataclass(frozen=True, slots=True)
class _Group:
    dtype: DataType
    order: ByteOrder
    rows: npt.NDArray[np.intp]  # which output slots
    index: npt.NDArray[np.intp]  # [n, width] register offsets in the block
    scale: F64
    offset: F64
    sentinels: tuple[tuple[int, npt.NDArray[np.int64]], ...]  # (row within group, raw values)


class BlockDecoder:
    """Decodes the numeric points of one register block in one vectorized pass.

    `starts[i]` is the address of the block's first register for points[i]. String points are
    not handled here (see decode_value); bool points read `value != 0`, bit points one bit.
    """

    def __init__(self, points: Sequence[ModbusPoint], block_start: int) -> None:
        self.points = tuple(points)
        groups: dict[tuple[DataType, ByteOrder], list[int]] = {}
        for i, p in enumerate(self.points):
            if p.dtype is DataType.STRING:
                raise RegisterError(f"{p.name}: strings are decoded with decode_value")
            groups.setdefault((p.dtype, p.byte_order), []).append(i)
        self._groups: list[_Group] = []
        for (dtype, order), rows in groups.items():
            width = 1 if dtype in (DataType.BOOL, DataType.BIT) else dtype.registers
            first = np.array([self.points[r].address - block_start for r in rows], dtype=np.intp)
            if (first < 0).any():
                raise RegisterError("a point starts before its block")
            sentinels = tuple(
                (k, np.array(self.points[r].sentinel, dtype=np.int64))
                for k, r in enumerate(rows)
                if self.points[r].sentinel
            )
            self._groups.append(
                _Group(
                    dtype=dtype,
                    order=order,
                    rows=np.array(rows, dtype=np.intp),
                    index=first[:, None] + np.arange(width, dtype=np.intp)[None, :],
                    scale=np.array([self.points[r].scale for r in rows], dtype=np.float64),
                    offset=np.array([self.points[r].offset for r in rows], dtype=np.float64),
                    sentinels=sentinels,
                )
            )
        self._bits = np.array(
            [p.bit if p.dtype is DataType.BIT else 0 for p in self.points], dtype=np.uint16
        )

    @property
    def span(self) -> int:
        """Registers the block must hold for every point to be decodable."""
        ends = [int(g.index.max()) + 1 for g in self._groups]
        return max(ends) if ends else 0

    def decode(self, registers: Sequence[int] | U16, sf_exponents: F64 | None = None) -> F64:
        """Engineering values of every point (NaN where a sentinel or NaN says 'no reading').

        `sf_exponents[i]` is the SunSpec scale-factor exponent for points[i] (0 if none).
        """
        regs = np.asarray(registers, dtype=np.uint16)
        if regs.shape[0] < self.span:
            raise RegisterError(f"block has {regs.shape[0]} registers, points need {self.span}")
        out = np.empty(len(self.points), dtype=np.float64)
        for g in self._groups:
            words = regs[g.index]
            raw: npt.NDArray[np.generic]
            if g.dtype is DataType.BOOL:
                raw = (words[:, 0] != 0).astype(np.float64)
            elif g.dtype is DataType.BIT:
                raw = ((words[:, 0] >> self._bits[g.rows]) & 1).astype(np.float64)
            else:
                raw = raw_values(words, g.dtype, g.order)
            with np.errstate(invalid="ignore"):  # a signalling NaN is 'no reading', not an error
                values = raw.astype(np.float64) * g.scale + g.offset
            for k, sentinel in g.sentinels:
                if np.isin(raw[k], sentinel):
                    values[k] = np.nan
            out[g.rows] = values
        if sf_exponents is not None:
            out = (out - self._offsets) * np.power(10.0, sf_exponents) + self._offsets
        return out

    @property
    def _offsets(self) -> F64:
        return np.array([p.offset for p in self.points], dtype=np.float64)


def decode_value(
    point: ModbusPoint, registers: Sequence[int] | Sequence[bool], sf_exponent: int = 0
) -> float | bool | str | None:
    """Decode one point from its own registers (or bits). None means 'no reading'."""
    if point.table.is_bit:
        return bool(registers[0])
    if point.dtype is DataType.STRING:
        data = _words_to_bytes(np.asarray([registers[: point.width]], np.uint16), point.byte_order)
        return data.tobytes().rstrip(b"\x00 ").decode("ascii", errors="replace")
    decoder = BlockDecoder([point], point.address)
    value = float(decoder.decode(np.asarray(registers, np.uint16))[0])
    if math.isnan(value):
        return None
    if sf_exponent:
        value = (value - point.offset) * 10.0**sf_exponent + point.offset
    if point.dtype in (DataType.BOOL, DataType.BIT):
        return bool(value)
    return value


def encode_value(
    point: ModbusPoint, value: float | int | bool | str, sf_exponent: int = 0
) -> list[int]:
    """Registers (or bits as 0/1, for coils and discrete inputs) that hold `value`.

    Integer types round to the nearest raw value; a value outside the type's range raises.
    Bit points return the single register with only that bit set (callers read-modify-write).
    """
    if point.table.is_bit or point.dtype is DataType.BOOL:
        return [1 if bool(value) else 0]
    if point.dtype is DataType.BIT:
        return [(1 << (point.bit or 0)) if bool(value) else 0]
    if point.dtype is DataType.STRING:
        raw_text = str(value).encode("ascii", errors="replace")[: 2 * point.width]
        data = np.frombuffer(raw_text.ljust(2 * point.width, b"\x00"), dtype=np.uint8)
        return [int(w) for w in _bytes_to_words(data.reshape(1, -1), point.byte_order)[0]]
    if isinstance(value, str):
        raise RegisterError(f"{point.name}: numeric point cannot hold {value!r}")
    raw = (float(value) - point.offset) / (point.scale * 10.0**sf_exponent)
    np_type = np.dtype(_NUMPY[point.dtype])
    if np_type.kind in "iu":
        if not math.isfinite(raw):
            raise RegisterError(f"{point.name}: {value!r} is not finite")
        info = np.iinfo(np_type)
        rounded = round(raw)
        if not info.min <= rounded <= info.max:
            raise RegisterError(f"{point.name}: {value!r} is out of range for {point.dtype.value}")
        arr = np.array([rounded], dtype=np_type)
    else:
        arr = np.array([raw], dtype=np_type)
    data = arr.view(np.uint8).reshape(1, -1)
    return [int(w) for w in _bytes_to_words(data, point.byte_order)[0]]
