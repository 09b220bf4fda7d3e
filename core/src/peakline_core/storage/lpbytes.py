"""Text columns as byte matrices, joined row by row without a Python loop per row (pure).

A `Piece` is a `uint8[rows, width]` matrix and a `bool[rows, width]` mask of the bytes that
are kept. Line protocol is the pieces of a row laid side by side, rows one after another:
`join` stacks the pieces horizontally and keeps the masked bytes in row-major order, so a
whole block is assembled by two numpy calls. Numbers are written into matrices digit by
digit with integer arithmetic; floats take that path when their shortest round-trip text is
a plain decimal (see `float_piece`), and `repr` otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Final, NamedTuple

import numpy as np
import numpy.typing as npt

_MAX_FRACTION: Final = 6  # decimal places tried on the fast float path
_MAX_EXACT: Final = 10**15  # decimals of at most 15 significant digits name one float64


class Piece(NamedTuple):
    """Bytes and kept-mask; with `rows`, row i of the piece is row `rows[i]` of the matrices
    (a gather done straight into the joined matrix, saving a copy)."""

    bytes_: npt.NDArray[np.uint8]
    keep: npt.NDArray[np.bool_]
    rows: npt.NDArray[np.intp] | None = None


def join(pieces: Sequence[Piece]) -> bytes:
    """The kept bytes of every piece, row by row."""
    first = pieces[0]
    n = first.keep.shape[0] if first.rows is None else first.rows.shape[0]
    width = sum(p.bytes_.shape[1] for p in pieces)
    matrix = np.empty((n, width), dtype=np.uint8)
    keep = np.empty((n, width), dtype=bool)
    at = 0
    for p in pieces:
        end = at + p.bytes_.shape[1]
        if p.rows is None:
            matrix[:, at:end] = p.bytes_
            keep[:, at:end] = p.keep
        else:
            matrix[:, at:end] = p.bytes_[p.rows]
            keep[:, at:end] = p.keep[p.rows]
        at = end
    return matrix[keep].tobytes()


def only(piece: Piece, present: npt.NDArray[np.bool_]) -> Piece:
    """The piece kept on the `present` rows only."""
    if piece.rows is not None:
        piece = Piece(piece.bytes_[piece.rows], piece.keep[piece.rows])
    return Piece(piece.bytes_, piece.keep & present[:, None])


def constant(text: bytes, rows: int, present: npt.NDArray[np.bool_] | None = None) -> Piece:
    """The same bytes on every row (on the `present` rows only, when given)."""
    row = np.frombuffer(text, dtype=np.uint8)
    matrix = np.broadcast_to(row, (rows, row.shape[0]))
    if present is None:
        return Piece(matrix, np.broadcast_to(np.True_, matrix.shape))
    return Piece(matrix, np.broadcast_to(present[:, None], matrix.shape))


def strings(items: Sequence[bytes], present: npt.NDArray[np.bool_] | None = None) -> Piece:
    """One byte string per row (interior NUL bytes kept: lengths come from the items)."""
    rows = len(items)
    lengths = np.fromiter(map(len, items), dtype=np.intp, count=rows)
    width = max(1, int(lengths.max())) if rows else 1
    matrix = np.array(items, dtype=f"S{width}").view(np.uint8).reshape(rows, width)
    keep = np.arange(width) < lengths[:, None]
    if present is not None:
        keep &= present[:, None]
    return Piece(matrix, keep)


@cache
def _quads() -> npt.NDArray[np.uint8]:
    """`0000` to `9999` as a [10000, 4] byte table: four digits per lookup."""
    text = "".join(f"{i:04d}" for i in range(10_000)).encode()
    return np.frombuffer(text, dtype=np.uint8).reshape(10_000, 4)


def _digits(magnitude: npt.NDArray[np.uint64], width: int | None = None) -> Piece:
    """Decimal digits of non-negative integers, right-aligned in `width` columns (default:
    the widest value), leading zeros masked off."""
    rows = magnitude.shape[0]
    if width is None:
        top = int(magnitude.max()) if rows else 0
        width = len(str(top))
    groups = -(-width // 4)
    matrix = np.empty((rows, groups * 4), dtype=np.uint8)
    rest = magnitude.copy()
    quads = _quads()
    base = np.uint64(10_000)
    for g in range(groups - 1, -1, -1):
        matrix[:, 4 * g : 4 * g + 4] = quads[rest % base]
        rest //= base
    matrix = matrix[:, groups * 4 - width :]
    powers = np.array([10**i for i in range(1, 20)], dtype=np.uint64)
    count = np.searchsorted(powers, magnitude, side="right") + 1
    keep = np.arange(width) >= (width - count)[:, None]
    return Piece(matrix, keep)


def int_pieces(values: npt.NDArray[np.int64]) -> list[Piece]:
    """Decimal text of int64 values (with a `-` sign where negative).

    Runs of equal values (the timestamps of one message, quality codes) are written once
    per run and repeated."""
    rows = values.shape[0]
    if rows > 64:
        change = np.concatenate([[True], values[1:] != values[:-1]])
        starts = np.flatnonzero(change)
        if starts.shape[0] * 4 < rows:
            run_of_row = np.cumsum(change) - 1
            return [Piece(p.bytes_, p.keep, run_of_row) for p in int_pieces(values[starts])]
    negative = values < 0
    magnitude = np.abs(values.astype(np.int64)).view(np.uint64)  # abs(int64 min) wraps right
    digits = _digits(magnitude)
    sign = np.full((values.shape[0], 1), ord("-"), dtype=np.uint8)
    return [Piece(sign, negative[:, None]), digits]


def _plain_decimals(values: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.int64], ...]:
    """Per value: places k (0 = integral, -1 = none found) and the integer x with x/10**k == v.

    A decimal of at most 15 significant digits is the only one of that length naming its
    float64, so when x/10**k == |v| (one correctly rounded division of exact operands) with
    x < 10**15 and k minimal, that decimal is exactly the shortest round-trip text of v.
    """
    magnitude = np.abs(values)
    places = np.full(values.shape[0], -1, dtype=np.int64)
    scaled = np.zeros(values.shape[0], dtype=np.int64)
    todo = np.ones(values.shape[0], dtype=bool)
    for k in range(_MAX_FRACTION + 1):
        power = 10.0**k
        with np.errstate(over="ignore", invalid="ignore"):  # huge values: inf, never a hit
            x = np.rint(magnitude * power)
            hit = todo & (x < _MAX_EXACT) & (x / power == magnitude)
        places[hit] = k
        scaled[hit] = x[hit].astype(np.int64)
        todo &= ~hit
        if not todo.any():
            break
    return places, scaled


def float_pieces(values: npt.NDArray[np.float64]) -> list[Piece]:
    """Shortest round-trip text of finite floats, integral ones without `.0` (repr otherwise).

    The fast path covers values with at most 6 decimal places, 15 significant digits and
    magnitude in [1e-4, 1e15) (where `repr` is positional); -0.0 is written `-0`.
    """
    rows = values.shape[0]
    places, scaled = _plain_decimals(values)
    magnitude = np.abs(values)
    fast = (places >= 0) & ((magnitude >= 1e-4) | (places == 0))
    negative = np.signbit(values) & fast
    power = (10 ** np.clip(places, 0, None)).astype(np.int64)
    whole = np.where(fast, scaled // power, 0)
    fraction = np.where(fast, scaled % power, 0)
    pieces = [Piece(np.full((rows, 1), ord("-"), dtype=np.uint8), negative[:, None])]
    digits = _digits(whole.astype(np.uint64))
    pieces.append(Piece(digits.bytes_, digits.keep & fast[:, None]))
    decimal = fast & (places > 0)
    if decimal.any():
        width = int(places[decimal].max())
        spread = fraction * 10 ** (width - np.clip(places, 0, width))
        matrix = _digits(spread.astype(np.uint64), width).bytes_  # zero-padded on the left
        pieces.append(constant(b".", rows, decimal))
        pieces.append(Piece(matrix, (np.arange(width) < places[:, None]) & decimal[:, None]))
    slow = ~fast
    if slow.any():
        texts = [b""] * rows
        for i, v in zip(np.flatnonzero(slow).tolist(), values[slow].tolist(), strict=True):
            texts[i] = repr(v).removesuffix(".0").encode()
        pieces.append(strings(texts, slow))
    return pieces
