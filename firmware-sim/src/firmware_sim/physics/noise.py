"""Counter-based (stateless) random numbers: the value for (seed, stream, step) is a hash, so any
step can be computed in any order and a scenario replays bit for bit from its seed."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MASK = (1 << 64) - 1


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def uniform(seeds: npt.ArrayLike, steps: npt.ArrayLike, stream: int) -> F64:
    """[n, K] uniforms in [0, 1) for seeds [n] and integer steps [K]."""
    s = np.asarray(seeds, dtype=np.int64).astype(np.uint64)[:, None]
    k = np.asarray(steps, dtype=np.int64).astype(np.uint64)[None, :]
    salt = np.full(1, (stream * 0x94D049BB133111EB) & _MASK, dtype=np.uint64)
    x = _mix(s * _GOLDEN + salt) ^ (k * _GOLDEN)
    return (_mix(x) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def gauss(seeds: npt.ArrayLike, steps: npt.ArrayLike, stream: int) -> F64:
    """[n, K] standard normal values (Box-Muller over two hashed streams)."""
    u1 = uniform(seeds, steps, stream)
    u2 = uniform(seeds, steps, stream + 7919)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def smooth(seeds: npt.ArrayLike, t_s: F64, knot_s: float, stream: int) -> F64:
    """[n, K] smooth noise (about N(0, 0.7)): normals on knots every knot_s seconds, cosine
    interpolated in between, so it has memory like weather and clouds."""
    pos = np.asarray(t_s, dtype=np.float64) / knot_s
    j = np.floor(pos).astype(np.int64)
    frac = pos - j
    w = (1.0 - np.cos(np.pi * frac)) / 2.0
    lo = gauss(seeds, j, stream)
    hi = gauss(seeds, j + 1, stream)
    out: F64 = lo * (1.0 - w)[None, :] + hi * w[None, :]
    return out
