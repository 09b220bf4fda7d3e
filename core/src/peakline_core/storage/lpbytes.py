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


def _invariant(array: npt.NDArray[np.generic]) -> bool:
    """True for a row-broadcast matrix (the same row repeated, as `constant` builds)."""
    return array.ndim == 2 and array.strides[0] == 0


def join(pieces: Sequence[Piece]) -> bytes:
    """The kept bytes of every piece, row by row.

    Row-invariant bytes and masks (constants, all-kept or all-dropped columns) go into one
    template row broadcast over the matrix in a single contiguous copy; only the columns
    that differ between rows are written piece by piece."""
    first = pieces[0]
    n = first.keep.shape[0] if first.rows is None else first.rows.shape[0]
    width = sum(p.bytes_.shape[1] for p in pieces)
    template = np.zeros(width, dtype=np.uint8)
    template_keep = np.zeros(width, dtype=bool)
    at = 0
    for p in pieces:
        end = at + p.bytes_.shape[1]
        if _invariant(p.bytes_):
            template[at:end] = p.bytes_[0]
        if _invariant(p.keep):
            template_keep[at:end] = p.keep[0]
        at = end
    matrix = np.empty((n, width), dtype=np.uint8)
    keep = np.empty((n, width), dtype=bool)
    matrix[:] = template
    keep[:] = template_keep
    at = 0
    for p in pieces:
        end = at + p.bytes_.shape[1]
        for source, target in ((p.bytes_, matrix), (p.keep, keep)):
            if _invariant(source):
                continue
            if p.rows is None:
                target[:, at:end] = source
            else:
                target[:, at:end] = source[p.rows]
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
    return Piece(matrix, _broadcast_mask(present, matrix.shape))


def sign(negative: npt.NDArray[np.bool_]) -> Piece:
    """A `-` on the negative rows."""
    return constant(b"-", negative.shape[0], negative)


def _broadcast_mask(
    present: npt.NDArray[np.bool_] | None, shape: tuple[int, int]
) -> npt.NDArray[np.bool_]:
    """`present` as a [rows, width] mask; a row-invariant view when it is all True or all False."""
    if present is None or present.all():
        return np.broadcast_to(np.True_, shape)
    if not present.any():
        return np.broadcast_to(np.False_, shape)
    return np.broadcast_to(present[:, None], shape)


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
def _quads() -> npt.NDArray[np.uint32]:
    """`0000` to `9999` as 4-byte words (the digit bytes in memory order): four digits per
    lookup, written into a uint32 matrix later viewed as bytes."""
    text = "".join(f"{i:04d}" for i in range(10_000)).encode()
    return np.frombuffer(text, dtype=np.uint32).copy()


def _digits(
    magnitude: npt.NDArray[np.uint64], width: int | None = None, min_digits: int = 1
) -> Piece:
    """Decimal digits of non-negative integers, right-aligned in `width` columns (default:
    the widest value, at least `min_digits`), leading zeros masked off except the last
    `min_digits` columns."""
    rows = magnitude.shape[0]
    if width is None:
        top = int(magnitude.max()) if rows else 0
        width = max(len(str(top)), min_digits)
    groups = -(-width // 4)
    words = np.empty((rows, groups), dtype=np.uint32)
    quads = _quads()
    rest = magnitude
    base = np.uint64(10_000)
    for g in range(groups - 1, -1, -1):
        rest, low = np.divmod(rest, base)
        words[:, g] = quads[low]
    matrix = words.view(np.uint8).reshape(rows, groups * 4)[:, groups * 4 - width :]
    # Column j holds the digit of weight 10**(width-1-j): kept when the value reaches it.
    weights = np.array(
        [10 ** (width - 1 - j) if j < width - min_digits else 0 for j in range(width)],
        dtype=np.uint64,
    )
    if rows == 0 or int(magnitude.min()) >= int(weights[0]):  # every row uses every column
        return Piece(matrix, np.broadcast_to(np.True_, matrix.shape))
    return Piece(matrix, magnitude[:, None] >= weights)


def int_pieces(values: npt.NDArray[np.int64]) -> list[Piece]:
    """Decimal text of int64 values (with a `-` sign where negative).

    Runs of equal values (the timestamps of one message, quality codes) are written once
    per run and repeated."""
    rows = values.shape[0]
    if rows > 64:
        change = np.concatenate([[True], values[1:] != values[:-1]])
        starts = np.flatnonzero(change)
        if starts.shape[0] == 1:  # one value: row-invariant pieces
            return [
                Piece(np.broadcast_to(p.bytes_[0], (rows, p.bytes_.shape[1])),
                      np.broadcast_to(p.keep[0], (rows, p.keep.shape[1])))
                for p in int_pieces(values[:1])
            ]  # fmt: skip
        if starts.shape[0] * 4 < rows:
            run_of_row = np.cumsum(change) - 1
            return [Piece(p.bytes_, p.keep, run_of_row) for p in int_pieces(values[starts])]
    negative = values < 0
    magnitude = np.abs(values.astype(np.int64)).view(np.uint64)  # abs(int64 min) wraps right
    digits = _digits(magnitude)
    return [sign(negative), digits]


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
    magnitude in [1e-4, 1e15) (where `repr` is positional); -0.0 is written `-0`. Its digits
    are those of one integer, `x * 10**(width - places)` (width: the most places in the
    block), split into whole and fraction columns around the `.`.
    """
    rows = values.shape[0]
    places, scaled = _plain_decimals(values)
    magnitude = np.abs(values)
    fast = (places >= 0) & ((magnitude >= 1e-4) | (places == 0))
    places = np.where(fast, places, -1)
    scaled = np.where(fast, scaled, 0)
    width = max(0, int(places.max())) if rows else 0  # fraction columns
    pieces = [sign(np.signbit(values) & fast)]
    if width > 0 and int(scaled.max()) >= 10 ** (18 - width):
        pieces.extend(_split_decimal(places, scaled, width))  # would overflow one integer
    else:
        spread = (scaled * 10 ** (width - np.clip(places, 0, None))).astype(np.uint64)
        digits = _digits(spread, min_digits=width + 1)
        whole = digits.bytes_.shape[1] - width
        pieces.append(Piece(digits.bytes_[:, :whole], _on_rows(digits.keep[:, :whole], fast)))
        if width > 0:
            decimal = places > 0
            pieces.append(constant(b".", rows, decimal))
            pieces.append(Piece(digits.bytes_[:, whole:], np.arange(width) < places[:, None]))
    slow = ~fast
    if slow.any():
        pieces.append(_repr_piece(values, np.flatnonzero(slow)))
    return pieces


def _repr_piece(values: npt.NDArray[np.float64], which: npt.NDArray[np.intp]) -> Piece:
    """`repr` text (`.0` trimmed) of the rows `which`, nothing on the others; the matrix
    holds those rows only (plus one empty row) and is gathered by `rows`."""
    # One C-level pass: reprs joined by commas; `.0,` can only be an integral value's end.
    text = ",".join(map(repr, values[which].tolist())) + ","
    items = text.replace(".0,", ",").encode().split(b",")
    texts = strings(items)  # the last item is the empty one after the final comma
    rows = np.full(values.shape[0], len(items) - 1, dtype=np.intp)
    rows[which] = np.arange(len(items) - 1)
    return Piece(texts.bytes_, texts.keep, rows)


def _on_rows(keep: npt.NDArray[np.bool_], rows: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """`keep` restricted to `rows` (left as it is when every row is in)."""
    return keep if rows.all() else keep & rows[:, None]


def _split_decimal(
    places: npt.NDArray[np.int64], scaled: npt.NDArray[np.int64], width: int
) -> list[Piece]:
    """Whole digits, `.` and fraction digits written separately (values too wide for one
    uint64 once scaled to `width` places). `places` is -1 on rows written elsewhere."""
    rows = places.shape[0]
    fast = places >= 0
    power = (10 ** np.clip(places, 0, None)).astype(np.int64)
    whole = _digits((scaled // power).astype(np.uint64))
    fraction = scaled % power * 10 ** (width - np.clip(places, 0, width))
    matrix = _digits(fraction.astype(np.uint64), width).bytes_  # zero-padded on the left
    return [
        Piece(whole.bytes_, _on_rows(whole.keep, fast)),
        constant(b".", rows, places > 0),
        Piece(matrix, np.arange(width) < places[:, None]),
    ]
