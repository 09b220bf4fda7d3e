"""Novelty: a reading beyond every value the series has held (a new extreme).

Most labelled anomalies of real-world series (an outage, a runaway process, a sensor gone
wrong) take a series somewhere it has never been, and a prediction-error test that adapts
to the new level flags the first readings only weakly. The evidence here needs no model of
the series, only its range so far and its own rate of new extremes:

- under exchangeability the chance that the next of n readings is a new extreme is about
  2 / (n + 1); the series' own exponentially weighted rate of new extremes `r` (memory
  `novelty_memory_readings`) takes over when that is higher, so a trending series, which sets
  new extremes all the time, is not novel when it does;
- a reading beyond the range by a margin m (in units of the range so far) is rarer still:
  for light (Gaussian-like) tails the extreme of n readings sits about sqrt(2 ln n) sd out
  and the range spans twice that, so exceeding it by m ranges has a tail probability of
  about r ** ((1 + 2 m) ** 2);
- the tail probability is turned into a Gaussian-equivalent z like every other detector.

Vectorized over [time, series]: the range before each reading is a running max/min, the
margin and the probability are elementwise; only the rate of new extremes is a recursion
(three numpy operations per time step across all series).
"""

from __future__ import annotations

import math

import numpy as np

from peakline_core.anomaly.config import AnomalyConfig
from peakline_core.anomaly.prepare import Prepared, narrow, running_max
from peakline_core.anomaly.state import Array

_LN_SQRT_HALF_PI = 0.5 * math.log(math.pi / 2.0)


def tail_to_z(nats: Array) -> Array:
    """Gaussian-equivalent |z| of a two-sided tail probability p given as -ln p: solves
    -ln erfc(z / sqrt 2) = nats with the asymptotic form of erfc to two terms,
    z^2/2 + ln z + ln sqrt(pi/2) - ln(1 - 1/z^2) (within 0.01 of the exact z for z >= 3)."""
    z: Array = np.sqrt(2.0 * nats)
    for _ in range(5):
        zz = np.maximum(z, 1.5)
        z = np.sqrt(
            np.maximum(
                2.0 * (nats - _LN_SQRT_HALF_PI - np.log(zz) + np.log1p(-1.0 / (zz * zz))), 0.0
            )
        )
    return z


def run(st: dict[str, Array], p: Prepared, cfg: AnomalyConfig) -> Array:
    """Novelty z per reading ([T, S] float32, 0 where not novel), updating the state rows
    (`nov_lo`, `nov_hi`, `nov_rate`, `nov_n`) in place."""
    n_t, n_s = p.x.shape
    z = np.zeros((n_t, n_s), dtype=np.float32)
    if n_t == 0:
        return z
    all_v = bool(narrow(p.model_valid).all())
    if all_v:
        return _run_usable(st, p, cfg, z)
    v = p.model_valid
    x = p.x if all_v else np.where(v, p.x, np.nan)
    # the range held before each reading: running max / min of the readings before it
    hi = np.empty((n_t, n_s))
    lo = np.empty((n_t, n_s))
    hi[0] = st["nov_hi"]
    lo[0] = -st["nov_lo"]
    if all_v:
        hi[1:] = x[:-1]
        np.negative(x[:-1], out=lo[1:])
    else:
        np.copyto(hi[1:], np.where(v[:-1], x[:-1], -np.inf))
        np.copyto(lo[1:], np.where(v[:-1], -x[:-1], -np.inf))
    running_max(hi)
    running_max(lo)
    lo = -lo
    if all_v:  # readings counted before each one: n0 + t (integer-valued, exact)
        n = st["nov_n"][None, :] + np.arange(n_t, dtype=np.float64)[:, None]
    else:
        n = np.empty((n_t, n_s))
        n[0] = st["nov_n"]
        np.copyto(n[1:], v[:-1])
        for t in range(1, n_t):
            np.add(n[t - 1], n[t], out=n[t])
    with np.errstate(invalid="ignore"):
        margin = np.maximum(x - hi, lo - x)
        if p.x_err is not None:  # beyond the range by no more than its rounding: not novel
            margin = margin - p.x_err
        beyond = margin > 0
        novel = beyond
        if not float(st["nov_n"].min(initial=np.inf)) >= cfg.warmup_readings:
            novel = beyond & (n >= cfg.warmup_readings)
    # the series' own rate of new extremes (a recursion: two in-place steps per reading);
    # it is read only at the steps holding a novel reading
    rate = np.zeros((n_t, n_s))
    r = st["nov_rate"].copy()
    floor = 1.0 / cfg.novelty_memory_readings
    if (
        1.0 / (float(n[0].min(initial=np.inf)) + 1.0) <= floor
    ):  # past the memory: 1 / (n + 1) <= floor
        step = np.full((n_t, 1), floor) if all_v else floor * v
    else:
        step = np.maximum(1.0 / (n + 1.0), floor)
        if not all_v:
            step *= v
    keep = 1.0 - step
    gain = step * beyond
    read: list[bool] = np.asarray(novel.any(axis=1)).tolist()
    for t in range(n_t):
        if read[t]:
            rate[t] = r
        np.multiply(r, keep[t], out=r)
        np.add(r, gain[t], out=r)
    at = np.flatnonzero(novel)
    if at.size:
        span = hi.reshape(-1)[at] - lo.reshape(-1)[at]
        m = margin.reshape(-1)[at]
        m_rel = np.where(span > 0, m / np.where(span > 0, span, 1.0), 1.0)
        p_new = np.maximum(rate.reshape(-1)[at], 2.0 / (n.reshape(-1)[at] + 1.0))
        nats = -np.log(np.minimum(p_new, 1.0)) * (1.0 + 2.0 * m_rel) ** 2
        # below z_zero a reading scores 0 whatever its z: only the rest is converted
        can = nats >= -math.log(math.erfc(cfg.z_zero / math.sqrt(2.0)))
        z.reshape(-1)[at[can]] = tail_to_z(nats[can])
    st["nov_hi"] = np.fmax(hi[-1], x[-1])
    st["nov_lo"] = -np.fmax(-lo[-1], -x[-1])
    st["nov_n"] = n[-1] + v[-1]
    st["nov_rate"] = r
    return z


def _z_of(nats: Array, cfg: AnomalyConfig) -> tuple[Array, Array]:
    """(which of `nats` can reach `z_zero`, their z): below it a reading scores 0 whatever
    its z, so only the rest is converted."""
    can = nats >= -math.log(math.erfc(cfg.z_zero / math.sqrt(2.0)))
    return can, tail_to_z(nats[can])


def _run_usable(st: dict[str, Array], p: Prepared, cfg: AnomalyConfig, z: Array) -> Array:
    """`run` when every reading of the chunk is modelled (the common case): the same values.
    Only series that leave their range somewhere in the chunk (its maximum above `nov_hi`
    or minimum below `nov_lo`) can have a new extreme, so the running range, the margins
    and the novel readings are computed for those columns only; the other series' rate of
    new extremes just decays."""
    n_t, n_s = p.x.shape
    x = p.x
    nov_hi, nov_lo, nov_n = st["nov_hi"], st["nov_lo"], st["nov_n"]
    top, bottom = x.max(axis=0), x.min(axis=0)
    cols = np.flatnonzero((top > nov_hi) | (bottom < nov_lo))
    # readings counted before each one: n0 + t (integer-valued, exact); one column when
    # every series has counted as many
    uniform = bool((nov_n == nov_n[0]).all())
    n0 = nov_n[:1] if uniform else nov_n
    n = n0[None, :] + np.arange(n_t, dtype=np.float64)[:, None]
    r = st["nov_rate"].copy()
    floor = 1.0 / cfg.novelty_memory_readings
    if 1.0 / (float(nov_n.min(initial=np.inf)) + 1.0) <= floor:  # past the memory
        step = np.full((n_t, 1), floor)
    else:
        step = np.maximum(1.0 / (n + 1.0), floor)
    keep = 1.0 - step
    if cols.size == 0:  # no new extreme anywhere: the rate decays, nothing is novel
        for t in range(n_t):
            np.multiply(r, keep[t], out=r)
        st["nov_rate"] = r
        st["nov_n"] = (nov_n + float(n_t - 1)) + 1.0
        return z
    dense = 3 * cols.size > n_s  # (then a gather of the columns costs more than it saves)
    if dense:
        cols = np.arange(n_s)
    xc = x if dense else x[:, cols]
    # the range held before each reading: running max of the readings (and of their
    # negatives) before it
    neg = np.negative(xc)
    hi = np.empty_like(xc)
    lo = np.empty_like(xc)
    hi[0] = nov_hi[cols]
    lo[0] = -nov_lo[cols]
    hi[1:] = xc[:-1]
    lo[1:] = neg[:-1]
    running_max(hi)
    running_max(lo)
    if p.x_err is None:  # margin > 0 is x above the top or -x above -bottom
        beyond = xc > hi
        beyond |= neg > lo
    else:  # beyond the range by no more than its rounding: not novel
        with np.errstate(invalid="ignore"):
            margin = np.maximum(xc - hi, -lo - xc) - p.x_err[:, cols]
        beyond = margin > 0
    nc = n if uniform or dense else n[:, cols]  # ([T, 1] or the columns' counts)
    novel = beyond
    if not float(nov_n.min(initial=np.inf)) >= cfg.warmup_readings:
        novel = beyond & (nc >= cfg.warmup_readings)
    st["nov_hi"] = np.fmax(nov_hi, top)
    st["nov_lo"] = np.fmin(nov_lo, bottom)
    st["nov_hi"][cols] = np.fmax(hi[-1], xc[-1])
    st["nov_lo"][cols] = -np.fmax(lo[-1], neg[-1])
    # what the novel readings are judged by, gathered before `hi` and `neg` are reused
    at = np.flatnonzero(novel)
    width = xc.shape[1]
    x_at, hi_at, lo_at = xc.reshape(-1)[at], hi.reshape(-1)[at], -lo.reshape(-1)[at]
    # (with a rounding bound the margin is already net of it)
    m = np.maximum(x_at - hi_at, lo_at - x_at) if p.x_err is None else margin.reshape(-1)[at]
    # the columns' own rate vector gains a step where a reading is beyond (elsewhere
    # r * keep + 0 is r * keep); it is read only at the novel readings. (Into the buffers
    # of `neg` and `hi`, read no more: a fresh one costs its page faults.)
    r_c = r[cols]
    gain = np.multiply(step if step.shape[1] == 1 else step[:, cols], beyond, out=neg)
    keep_c = keep if keep.shape[1] == 1 else keep[:, cols]
    beyond_steps: list[bool] = np.asarray(beyond.any(axis=1)).tolist()
    novel_steps: list[bool] = np.asarray(novel.any(axis=1)).tolist()
    rate = hi  # (rows of steps without a novel reading are never read)
    for t in range(n_t):
        if novel_steps[t]:
            rate[t] = r_c
        if not dense:  # the other series only decay
            np.multiply(r, keep[t], out=r)
        np.multiply(r_c, keep_c[t], out=r_c)
        if beyond_steps[t]:
            np.add(r_c, gain[t], out=r_c)
    r[cols] = r_c
    if at.size:
        span = hi_at - lo_at
        m_rel = np.where(span > 0, m / np.where(span > 0, span, 1.0), 1.0)
        n_at = nc[at // width, 0] if nc.shape[1] == 1 else nc.reshape(-1)[at]
        p_new = np.maximum(rate.reshape(-1)[at], 2.0 / (n_at + 1.0))
        nats = -np.log(np.minimum(p_new, 1.0)) * (1.0 + 2.0 * m_rel) ** 2
        can, z_can = _z_of(nats, cfg)
        t_can, c_can = np.divmod(at[can], width)
        z[t_can, cols[c_can]] = z_can
    st["nov_n"] = (nov_n + float(n_t - 1)) + 1.0
    st["nov_rate"] = r
    return z
