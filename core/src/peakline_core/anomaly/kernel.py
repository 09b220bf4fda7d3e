"""The recursive detectors: one pass over time, each step vectorized across all series.

Each detector yields a z-like evidence per reading, computed *before* the reading updates the
state (so the score at t uses data up to t-1 for the model and t for the residual):

- spike: |x - level| / spread, with a Huber-robust exponentially weighted level and mean
  absolute innovation (clipped updates: an outlier cannot drag the model it is judged by);
- seasonal: residual against a learnt profile of 24 hours x {weekday, weekend} bins, each a
  robust running mean and mean absolute residual that turns into an exponential average after
  `season_memory_visits` visits; silent until a bin has `season_warmup_visits` visits;
- drift: EWMA control chart on the clipped seasonal residuals, its limits calibrated from the
  chart's own long-run variance (never below the independent-noise variance), so
  autocorrelated series do not alarm all the time;
- flatline: surprise (nats) of the current run of unchanged values, each repeat costing
  -ln P(unchanged) learnt per seasonal bin (a PV inverter at 0 W at night is not stuck);
  for counters and values that move by a few register steps (mean innovation at most
  `flat_step_limited` steps), changes come at a rate per second: a repeat dt s after the
  previous reading costs lambda * dt, lambda = -ln P(unchanged over the bin's mean
  interval) / that interval, so readings every 10 s after a history of 15-minute ones are
  judged by the time the value has held, not by how many readings repeated it (a noisy
  value repeats by being stuck, however often it is read);
- gap: interval since the previous reading against the learnt mean and deviation of
  intervals, as the surprise of an exponential tail (so Poisson-like event-driven streams and
  strictly periodic polls are both judged by their own regularity).

Spike and seasonal z are self-calibrated to the series' own tails: a tracked `tail_p`
quantile of |z| is mapped onto the Gaussian one, so heavy-tailed series are not flagged more
often than light-tailed ones. Their spread is never below the sd of the modelled value's
quantization error (a counter's rate over a short span: one register step over the span).

How it is fast (same arithmetic as the plain per-step recursion in
tests/unit/anomaly/reference_kernel.py, bit for bit; a test holds them equal):

- whatever does not depend on the recursion (reading counts, hours seen, learning rates
  that depend only on the interval) is computed for the whole chunk up front (rates.py);
- a series stays in one seasonal bin for an hour of readings, so the bin's values live in
  per-series working vectors (`BinCache`), gathered from and written back to the profile
  only on the steps where some series changes bin, for those series only;
- outputs that feed nothing back (Student-t -> z, gap surprise) are finished after the loop,
  only where they can reach `z_zero` (below it a reading scores 0 whatever its value);
- the seasonal section (readings, profile working vectors, neighbours, tail tracker) and the
  drift chart run in float32 (the profile is float32 anyway; a float32/float64 mix costs ~2x
  per operation); the level, trend, spread, spike tracker and the chart's age stay float64
  (a large level with small noise needs float64 for x - level), and the state keeps its
  float64 fields;
- work whose mask is empty or full is skipped: a `where` on an all-true mask, the seasonal
  test and drift chart while no series has a warm bin, the gap surprise of an interval
  that cannot reach `z_zero`, the flatline cost where no reading repeats;
- the constant operand of every `np.maximum` / `np.minimum` is a full row (numpy's loop for a
  scalar or a [1] column is ~3x slower); what cannot change a result is skipped: masks that
  stay full until the next bin change (visits never fall within a bin), the neighbour-hour
  fit outside the readings whose |z| can score or step the tail tracker, the profile rates'
  warm-up once every bin is past its memory, stillness while nothing is still, the bins'
  spread while every series is on its bin's first visit (its rate is 0: a first day); the
  spike moves are counted in integers once every series has moved enough;
- series sharing one interval history (polled in step) run the interval model once, on
  Python floats.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from peakline_core.anomaly.bincache import BinCache
from peakline_core.anomaly.config import AnomalyConfig
from peakline_core.anomaly.prepare import VISIT_S, Prepared, is_blank, narrow
from peakline_core.anomaly.rates import Rates, chunk_rates
from peakline_core.anomaly.state import Array

MAD_TO_SD = 1.2533141373155  # sqrt(pi/2): mean absolute deviation -> sd for Gaussian noise
LN2 = 0.6931471805599453
ERR_TO_SD = 0.4082482904638631  # 1/sqrt(6): the difference of two roundings within +-1 step


def moves_by_steps(
    counter: Array, s: Array, step: Array, dt: Array, still_dt: Array, limit: float
) -> Array:
    """Whether a value changes by register steps at a rate per second (its repeats judged by
    the time held): a counter, or a value whose mean innovation `s`, scaled to this interval
    `dt` as a random walk's (sqrt of dt over the bin's learnt interval `still_dt`, at most 1),
    is at most `limit` register steps. A 0.1 degC temperature that moved 5 steps per 15-minute
    reading moves half a step in 10 s: read every 10 s, it repeats by changing slowly."""
    scale = np.sqrt(np.minimum(dt / np.maximum(still_dt, 1e-9), 1.0))
    by_time: Array = counter | (s * scale <= limit * step)
    return by_time


def still_cost(still: Array, still_dt: Array, dt: Array, by_time: Array, q_min: float) -> Array:
    """Surprise (nats) of a repeat, for a bin whose value stayed unchanged over a share
    `still` of its modelled intervals of mean length `still_dt` s: -ln(still) per reading,
    or where `by_time` (a value moving by register steps) lambda * dt for a repeat `dt` s
    after the previous reading, lambda = -ln(still) / still_dt, at most -ln(q_min)."""
    per_reading = -np.log(np.minimum(np.maximum(still, q_min), 1.0))
    per_time = np.minimum(per_reading * (dt / np.maximum(still_dt, 1e-9)), -np.log(q_min))
    cost: Array = np.where(by_time, per_time, per_reading)
    return cost


@dataclass(slots=True)
class Evidence:
    """Per-reading evidence from the recursive detectors, each [time, series] float32.

    Spike, seasonal and gap z below `z_zero` (which cannot score) may read 0. A detector
    with no evidence in the chunk (the drift chart before it is trusted, a chunk without
    repeats or gaps) leaves a blank: a read-only view of one zero, so that
    neither its allocation nor its reading costs a pass (`prepare.is_blank`)."""

    spike: Array
    seasonal: Array
    drift: Array
    flat_nats: Array
    gap: Array
    settled: Array  # bool: the series had `event_warmup_s` of data before this reading

    @classmethod
    def blank(cls, n_t: int, n_s: int) -> Evidence:
        zero = np.broadcast_to(np.float32(0.0), (n_t, n_s))
        return cls(zero, zero, zero, zero, zero, np.zeros((n_t, n_s), dtype=bool))

    def written(self, name: str) -> Array:
        """Field `name` to write into: zeros in place of a blank."""
        a: Array = getattr(self, name)
        if is_blank(a):
            a = np.zeros(a.shape, dtype=np.float32)
            setattr(self, name, a)
        return a


class _Rows:
    """Full rows of constants for one chunk of `n` series, and per-step rows of rates that
    may be [T, 1] columns (filled into one buffer per rate)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def f32(self, value: float) -> Array:
        return np.full(self.n, value, dtype=np.float32)

    def row(self, rates: Array) -> Callable[[int], Array]:
        """Row t of `rates` ([T, S] or [T, 1]) as a full row."""
        if rates.shape[1] == self.n:
            return rates.__getitem__
        buf = np.empty(self.n, dtype=rates.dtype)

        def fill(t: int) -> Array:
            buf.fill(rates[t, 0])
            return buf

        return fill


def t_to_z(t: Array, dof: Array) -> Array:
    """Gaussian-equivalent of a Student-t statistic |t| with `dof` degrees of freedom
    (Wallace 1959): a spread estimated from few samples must not look like a known one."""
    z: Array = np.sqrt(dof * np.log1p(t * t / dof)) * ((8.0 * dof + 1.0) / (8.0 * dof + 3.0))
    return z


def interval_model(rt: Rates, dm: Array, dd: Array, cfg: AnomalyConfig) -> Array:
    """Gap surprise (nats, [T, S], 0 where it cannot reach `z_zero`) of each interval
    against the learnt mean `dm` and deviation `dd` of intervals, which it updates in place.

    The interval model depends on nothing but the intervals, so it runs on its own; series
    polled in step with one interval history (the registers of one device) share one column.
    """
    dtz, gap_settled, gap_w = rt.dtz, rt.gap_settled, rt.gap_w
    n_t, n_s = rt.mvf.shape
    shared = (
        n_s > 1
        and dtz.shape[1] == 1
        and gap_w.shape[1] == 1
        and gap_settled is None
        and bool((dm == dm[0]).all())
        and bool((dd == dd[0]).all())
    )
    late_at = 1.0 + 0.999 * cfg.z_zero**2 / 6.0
    if shared:
        return _shared_intervals(rt, dm, dd, late_at)
    m, d = dm, dd
    nats = np.zeros((n_t, n_s))
    for t in range(n_t):
        dtt = dtz[t]
        # exponential tail beyond the mean interval, never steeper than 3 nats per interval;
        # it reaches z_zero only past (1 + z_zero^2 / 6) mean intervals: shorter ones stay 0
        late = dtt > late_at * m
        if late.any():
            late_nats = np.maximum(dtt - m, 0.0) / np.maximum(d, m / 3.0 + 1e-9)
            nats[t] = np.where(late, late_nats, 0.0)
        dtc = np.minimum(dtt, 3.0 * m)
        if gap_settled is not None:
            dtc = np.where(gap_settled[t], dtc, dtt)
        g = gap_w[t]
        dev = dtc - m
        d += g * (np.abs(dev) - d)
        m += g * dev
    return nats


def _shared_intervals(rt: Rates, dm: Array, dd: Array, late_at: float) -> Array:
    """`interval_model` for series sharing one interval history: the same recursion on
    Python floats (the same IEEE double arithmetic; a numpy call on one value costs ~20x a
    float operation), one column broadcast across the series."""
    n_t, n_s = rt.mvf.shape
    m, d = float(dm[0]), float(dd[0])
    dts: list[float] = rt.dtz[:, 0].tolist()
    gs: list[float] = rt.gap_w[:, 0].tolist()
    nats = np.zeros((n_t, 1))
    for t, (dtt, g) in enumerate(zip(dts, gs, strict=True)):
        if dtt > late_at * m:  # (the intervals are finite and >= 0, the model too)
            nats[t, 0] = max(dtt - m, 0.0) / max(d, m / 3.0 + 1e-9)
        dev = min(dtt, 3.0 * m) - m
        d += g * (abs(dev) - d)
        m += g * dev
    dm[:] = m
    dd[:] = d
    return np.broadcast_to(nats, (n_t, n_s))


def run(st: dict[str, Array], p: Prepared, cfg: AnomalyConfig, bins: BinCache) -> Evidence:
    """Advance every recursion over the batch, updating the state rows `st` in place.

    `bins` holds the series' current seasonal bins across the chunks of one batch; the
    caller writes it back (`bins.write_back()`) after the last chunk."""
    n_t, n_s = p.x.shape
    f32 = np.float32
    out = Evidence.blank(n_t, n_s)
    if n_t == 0:
        return out
    zq = NormalDist().inv_cdf(1 - cfg.tail_p / 2)
    c = cfg.huber_c
    inf = np.inf

    # --- everything that does not depend on the recursion, for the whole chunk ---
    rt = chunk_rates(st, p, cfg, out.settled)
    mvf, dtz, lam, lam_var, var_rate = rt.mvf, rt.dtz, rt.lam, rt.lam_var, rt.var_rate
    mdtz = rt.mdtz
    dt_rows = np.broadcast_to(dtz, (n_t, n_s))
    # the seasonal profile and its working vectors are float32: its section runs in float32
    # end to end (mixing float32 and float64 costs about 2x per operation)
    # (a visit's weight is one [T, 1] column when series are read in step)
    x32, w32 = p.x.astype(f32), narrow(p.visits).astype(f32)
    held_s = (narrow(p.visits) * VISIT_S).astype(f32)  # the modelled span (capped at a visit)
    err_sd = None if p.x_err is None else p.x_err * ERR_TO_SD
    err32 = None if err_sd is None else err_sd.astype(f32)
    s4 = np.empty(n_s, dtype=f32)
    is_counter = st["counter"]
    level_rate, trend_share, spread_rate = rt.level_rate, rt.trend_share, rt.spread_rate
    visit_w, keep_run = rt.visit_w, rt.keep_run

    # what the outputs are finished from after the loop, written by the loop
    spike_z = np.empty((n_t, n_s))
    # the tail tracker and the moves count live in rows t (before reading t) and t + 1
    # (after it) of these, so the loop records them without copying
    spike_q, spike_moves = np.empty((n_t + 1, n_s)), np.empty((n_t + 1, n_s))
    spike_warm = np.empty((n_t, n_s), dtype=bool)
    # season_q: the seasonal tail tracker before reading t in row t; after a warm step it
    # steps into row t + 1, so consecutive warm steps record it without copying
    season_z, season_q = np.zeros((n_t, n_s), dtype=f32), np.zeros((n_t + 1, n_s), dtype=f32)
    q_row = -1  # the row of season_q that holds q_se (-1: none)
    season_v = np.zeros((n_t, n_s), dtype=f32)
    season_warm = np.empty((n_t, n_s), dtype=bool)
    gap_nats = interval_model(rt, st["dt_mean"], st["dt_dev"], cfg)

    mu, trend, s = st["mu"], st["trend"], st["s"]
    spike_moves[0] = st["moves"]
    np.copyto(spike_q[0], np.where(st["q_spike"] > 0, st["q_spike"], zq))
    q_se = np.where(st["q_season"] > 0, st["q_season"], zq).astype(f32)
    tail_rate32, tail_p32 = f32(cfg.tail_rate), f32(cfg.tail_p)
    # the drift chart runs in float32 (its age in float64: it counts seconds for months)
    e, ve, age = st["e"].astype(f32), st["ve"].astype(f32), st["drift_age_s"]
    lam32, lam_var32 = lam.astype(f32), lam_var.astype(f32)
    rv = np.empty(n_s, dtype=f32)
    flat = st["flat"]
    vsq, vw = st["visit_sq"], st["visit_w"]
    q_min, step_limit = cfg.flat_q_min, cfg.flat_step_limited
    # seasonal bin changes: against the cached bins at the first step, then between steps
    # (one column when the series of each step share their bin: then all of them switch)
    bin_rows = p.bins
    first_switch = np.broadcast_to(bin_rows[0], (n_s,)) != bins.cur
    switches = bin_rows[1:] != bin_rows[:-1]
    switch_any = [bool(first_switch.any()), *np.asarray(switches.any(axis=1)).tolist()]
    every_row = np.arange(n_s)
    all_valid: list[bool] = np.asarray(narrow(p.model_valid).all(axis=1)).tolist()
    # flatline: steps holding a repeat, steps where some run goes on; while no series has a
    # run (flat all 0) and no reading repeats, the flatline section has nothing to do
    repeats: list[bool] = np.asarray(p.unchanged.any(axis=1)).tolist()
    runs_on = repeats if keep_run is p.unchanged else np.asarray(keep_run.any(axis=1)).tolist()
    flat_zero = not flat.any()
    # every series has moved enough for the spike test (moves never falls)
    moved_enough = bool(spike_moves[0].min(initial=np.inf) >= cfg.warmup_readings)
    # then the count is only read after the loop: the moves of the chunk so far are counted
    # in integers (adding a bool to float64 costs ~3x an integer add), rows as spike_moves
    moved = np.zeros(
        (n_t + 1, n_s) if moved_enough else (1, 1), np.int16 if n_t < 32767 else np.int32
    )
    nz = np.empty(n_s, dtype=bool)
    # np.maximum / np.minimum against a scalar or a [1] column take numpy's slow broadcast
    # loop (~3x a full row): their constant operands are full rows (the same values)
    k = _Rows(n_s)
    one32, memory32, tiny32 = k.f32(1.0), k.f32(cfg.season_memory_visits), k.f32(1e-9)
    c32, neg_c32 = k.f32(c), k.f32(-c)
    lam_var_row, var_rate_row = k.row(lam_var32), k.row(var_rate)
    still32: Array | None = None  # (float32 stillness, made when first needed)
    # the chart's age never falls: once every age is >= 1e-9 its floor is the identity
    age_floor = not bool(age.min(initial=np.inf) >= 1e-9)
    age_q, rv64 = np.empty(n_s), np.empty(n_s)
    # a bin's visits never fall while a series stays in it, nor does the chart's age: once
    # every series has visited its bin or has a warm bin, it stays so until the next bin
    # change; once every age is charted at the chunk's start, it stays so
    all_visited = all_bin_warm = none_visited = False
    # every bin past its memory (then both profile rates are w / memory: the same values);
    # every bin never still (then, while nothing is still, its stillness stays 0)
    saturated = still_zero = False
    check_bins = True
    still_rows = repeats if p.still is p.unchanged else np.asarray(p.still.any(axis=1)).tolist()
    all_aged = bool(age.min(initial=np.inf) >= cfg.drift_warmup_s)
    # every chart the same age (a fleet charted since a common start), intervals one column:
    # while every series learns, the age and the variance's step are one float64 value,
    # `age_one` (the same float64 arithmetic; the vector is filled, so it is always current)
    age_one: float | None = None
    if n_s > 1 and mdtz.shape[1] == 1 and var_rate.shape[1] == 1 and (age == age[0]).all():
        age_one = float(age[0])
        mdtz_col: list[float] = mdtz[:, 0].tolist()
        var_col: list[float] = var_rate[:, 0].tolist()
    z0_32 = k.f32(0.999 * cfg.z_zero)  # (below z_zero, to be safe from its float32 rounding)
    # every series with the same visits of its bin (a fleet read in step since a common
    # start) and visit weights one column: what depends only on the visits is one float32
    # value, `v_one` (the same float32 arithmetic), checked again after each bin change
    v_one: np.float32 | None = None
    w_column = w32.shape[1] == 1 and n_s > 1
    one1, memory1, tiny1 = one32[0], memory32[0], tiny32[0]
    near, near_lim = np.empty(n_s, dtype=bool), np.empty(n_s, dtype=f32)

    for t in range(n_t):
        x, v, vf = p.x[t], p.model_valid[t], mvf[t]
        q_sp, moves = spike_q[t], spike_moves[t]
        # --- seasonal bin: (re)load the working vectors where the bin changes ---
        bins.refresh()
        if switch_any[t]:
            if t == 0:
                rows = np.flatnonzero(first_switch)
            else:
                rows = every_row if switches.shape[1] == 1 else np.flatnonzero(switches[t - 1])
            bins.switch(rows, np.broadcast_to(bin_rows[t], (n_s,))[rows])
            all_visited = all_bin_warm = none_visited = False
            check_bins = True
        m_b, d_b, v_b, st_b, sdt_b = bins.mean, bins.dev, bins.visits, bins.still, bins.still_dt
        if check_bins and w_column:
            v_one = v_b[0] if bool((v_b == v_b[0]).all()) else None

        # --- spike: robust level and spread ---
        sig_all = MAD_TO_SD * s + 1e-12 * (np.abs(mu) + 1.0)
        # a schedule ramp at 08:00 is routine for the 08:00 bin: the spread is the larger of
        # the series-wide one and this bin's RMS innovation (see BinCache.routine)
        # (each `where` below is skipped when its mask is all True: the same values, cheaper)
        routine = bins.sq_routine_in
        if not all_visited:
            if v_one is not None:
                all_visited = bool(v_one >= 1.0)
                none_visited = not all_visited
            else:
                visited = v_b >= 1.0
                all_visited = bool(visited.all())
                # (none visited: every series' bin is on its first visit, as on a first day)
                none_visited = not all_visited and not bool(visited.any())
            if none_visited:
                routine = bins.sq_routine_out
            elif not all_visited:
                routine = np.where(visited, routine, bins.sq_routine_out)
        sig = np.maximum(sig_all, routine)
        if err_sd is not None:
            sig = np.maximum(sig, err_sd[t])
        # a spread is only known once the series has moved; readings within one hour are
        # one regime, so its degrees of freedom grow with hours seen, not readings
        if moved_enough:  # (moves never falls: warm where the reading is modelled)
            warm = spike_warm[t]
            warm[:] = v
        else:
            warm = np.logical_and(v, moves >= cfg.warmup_readings, out=spike_warm[t])
        r = x - mu - trend
        ar = np.abs(r)
        z = np.divide(ar, sig, out=spike_z[t])
        all_warm = all_valid[t] if moved_enough else bool(warm.all())
        q_step = cfg.tail_rate * q_sp * ((z > q_sp) - cfg.tail_p)
        np.add(q_sp, q_step if all_warm else np.where(warm, q_step, 0.0), out=spike_q[t + 1])
        bound = c * sig
        # the series-wide spread learns only what is not routine for the hour, so a step at
        # 08:00 every day does not blunt the spike test at 13:00
        s_bound = c * sig_all
        if not all_warm:
            bound = np.where(warm, bound, inf)
            s_bound = np.where(warm, s_bound, inf)
        step = level_rate[t] * np.minimum(np.maximum(r, -bound), bound)
        if moved_enough:
            np.not_equal(r, 0.0, out=nz)
            if not all_valid[t]:
                nz &= v
            np.add(moved[t], nz, out=moved[t + 1])
        elif all_valid[t]:
            np.add(moves, r != 0, out=spike_moves[t + 1])
        else:
            np.add(moves, vf * (r != 0), out=spike_moves[t + 1])
        if all_valid[t]:
            mu += trend + step
        else:
            mu += trend * vf + step
        trend += trend_share[t] * step
        s += spread_rate[t] * (np.minimum(ar, s_bound) - s)

        # --- seasonal profile ---
        # out-of-sample spread, widened for a mean learnt from few visits
        # (until some series has a warm bin, only the profile's learning runs)
        x_s = x32[t]
        res = x_s - m_b
        if all_bin_warm:
            swarm = season_warm[t]
            swarm[:] = v
            any_bin_warm = True
        elif v_one is not None:
            all_bin_warm = any_bin_warm = bool(v_one >= cfg.season_warmup_visits)
            swarm = season_warm[t]
            swarm[:] = v if all_bin_warm else False
        else:
            bin_warm = v_b >= cfg.season_warmup_visits
            swarm = np.logical_and(v, bin_warm, out=season_warm[t])
            all_bin_warm = bool(bin_warm.all())
            any_bin_warm = all_bin_warm or bool(bin_warm.any())
        all_swarm = all_bin_warm and all_valid[t]
        any_swarm = all_swarm or bool(swarm.any())
        if any_bin_warm:
            np.multiply(s, 0.25, out=s4, casting="same_kind")
            most = np.maximum(v_b, one32) if v_one is None else np.maximum(v_one, one1)
            infl = np.sqrt(1.0 + 1.0 / most)
            sig_b = MAD_TO_SD * infl * np.maximum(d_b, s4) + 1e-12 * (np.abs(m_b) + 1.0)
            if err32 is not None:
                sig_b = np.maximum(sig_b, err32[t])
        if any_swarm:
            zs_own = res / sig_b
            # a value the profile holds an hour earlier or later is a shifted schedule or
            # sunrise, not an anomaly: judge by the best-fitting of the three neighbouring bins
            azs = np.abs(zs_own, out=season_z[t])
            # a better fit can only lower |z|: it changes nothing where |z| is already below
            # z_zero (scores 0) and not above the tail tracker (which it steps down)
            if bins.warm_neighbours:  # (a superset: |z| not below both)
                np.less(azs, np.minimum(q_se, z0_32, out=near_lim), out=near)
                at = np.logical_not(near, out=near).nonzero()[0]
                if at.size:
                    fit = azs[at]
                    x_at, s4_at = x_s[at], s4[at]
                    err_at = None if err32 is None else err32[t][at]
                    for nb_mean, nb_dev, nb_infl, nb_eps in bins.warm_neighbours:
                        sig_n = np.maximum(nb_dev[at], s4_at) * nb_infl[at] + nb_eps[at]
                        if err_at is not None:
                            sig_n = np.maximum(sig_n, err_at)
                        z_n = np.abs((x_at - nb_mean[at]) / sig_n)
                        # NaN mean: an unwarmed one never fits (fmin keeps azs, never NaN:
                        # x is finite and sig_b > 0; the same as `where(z_n < azs, ...)`)
                        np.fmin(fit, z_n, out=fit)
                    azs[at] = fit
            if q_row != t:
                season_q[t] = q_se
            season_v[t] = v_b
            q_step = tail_rate32 * q_se * ((azs > q_se) - tail_p32)
            q_se = np.add(
                q_se, q_step if all_swarm else np.where(swarm, q_step, 0.0), out=season_q[t + 1]
            )
            q_row = t + 1

        # --- flatline: surprise of the run of unchanged values ---
        if repeats[t]:
            ready = p.unchanged[t] & (v_b >= 0.25)
            at = np.flatnonzero(ready)  # most readings change
            if at.size > n_s // 4:
                step_t = p.step[t]  # type: ignore[index]
                by_time = moves_by_steps(is_counter, s, step_t, dt_rows[t], sdt_b, step_limit)
                flat += np.where(ready, still_cost(st_b, sdt_b, dt_rows[t], by_time, q_min), 0.0)
            elif at.size:
                step_at, dt_at, sdt_at = p.step[t][at], dt_rows[t][at], sdt_b[at]  # type: ignore[index]
                by_time = moves_by_steps(is_counter[at], s[at], step_at, dt_at, sdt_at, step_limit)
                flat[at] += still_cost(st_b[at], sdt_at, dt_at, by_time, q_min)
            flat_zero = flat_zero and not at.size
        if flat_zero:  # flat stays 0 and so does its (zeroed) record
            pass
        elif runs_on[t]:
            flat *= keep_run[t]
            out.written("flat_nats")[t] = flat
        else:  # every run ends (flat is finite and >= 0: the same as flat *= False)
            flat.fill(0.0)
            flat_zero = True

        # --- profile updates (the bin's working vectors) ---
        w = w32[t] if v_one is None else w32[t, 0]
        # visits ever seen; the averages remember at most the memory
        v_new = v_b + w if v_one is None else v_one + w
        mem, tiny, one = (memory32, tiny32, one32) if v_one is None else (memory1, tiny1, one1)
        if check_bins:  # (visits never fall while a series stays in its bin)
            saturated = bool(f32(v_b.min(initial=np.inf)) - f32(1.0) >= memory32[0])
            still_zero = not st_b.any()
            check_bins = False
        if saturated:  # v_new - 1 >= memory: both rates are w / memory (<= 1: w <= 1)
            lr_dev = lr = w / mem
        else:
            lr = w / np.maximum(np.minimum(v_new, mem), tiny)
            if not none_visited:
                lr_dev = w / np.maximum(np.minimum(v_new - 1.0, mem), tiny)
                if not all_visited:
                    lr_dev = np.where(visited, lr_dev, 0.0)
                lr_dev = np.minimum(lr_dev, one)
        # the spread only learns from readings the bin mean had not seen (after visit one:
        # while no series is past it, its rate is 0 and the spread stays as it is);
        # a warm bin learns Huber-clipped residuals (a cold one's bound is infinite)
        if any_bin_warm:
            bnd = c * sig_b
            if not all_bin_warm:
                bnd = np.where(bin_warm, bnd, inf)
            if not none_visited:
                np.add(d_b, lr_dev * (np.minimum(np.abs(res), bnd) - d_b), out=d_b)
            np.add(m_b, lr * np.minimum(np.maximum(res, -bnd), bnd), out=m_b)
        else:
            if not none_visited:
                np.add(d_b, lr_dev * (np.abs(res) - d_b), out=d_b)
            np.add(m_b, lr * res, out=m_b)
        if still_rows[t]:
            still_zero = False
        if not still_zero:  # (0 + lr * (0 - 0) is 0: nothing to learn)
            if still32 is None:
                still32 = p.still.astype(f32)
            st_b += lr * (still32[t] - st_b)
        sdt_b += lr * (held_s[t] - sdt_b)
        v_b[:] = v_new
        if v_one is not None:
            v_one = v_new
        # the bin learns one mean square per visit (see BinCache._close_visits)
        wi = visit_w[t]
        vsq += wi * r * r
        vw += wi

        # --- drift: EWMA chart on clipped seasonal residuals ---
        if not any_swarm:  # the chart only learns in warm bins; it still obeys its cap
            if e.any():
                cap = cfg.drift_cap_z * np.sqrt(np.maximum(ve, lam_var_row(t)))
                np.minimum(np.maximum(e, -cap, out=e), cap, out=e)
            continue  # (the last section of the step)
        sw = 1.0 if all_swarm else swarm.astype(np.float64)
        lam_t = lam32[t] if all_swarm else lam32[t] * swarm.astype(f32)
        e += lam_t * (np.minimum(np.maximum(zs_own, neg_c32), c32) - e)
        if age_one is not None and all_swarm:
            age_one += mdtz_col[t]
            age.fill(age_one)
        else:
            age_one = None
            age += mdtz[t] if all_swarm else mdtz[t] * sw
        var = np.maximum(ve, lam_var_row(t))
        sd = np.sqrt(var)
        # a capped chart forgets a big incident within about one halflife once it ends
        cap = cfg.drift_cap_z * sd
        np.minimum(np.maximum(e, -cap, out=e), cap, out=e)
        # (every age past it: the same as the comparisons below)
        if all_aged or (age_one is not None and age_one >= cfg.drift_warmup_s):
            charted: Array | None = swarm
        elif age_one is not None:  # (every series learns at one age, not yet charted)
            charted = None
        else:
            charted = age >= cfg.drift_warmup_s
            if not all_swarm:
                charted &= swarm
        if charted is None:
            pass
        elif charted.all():
            out.written("drift")[t] = np.abs(e) / sd
        elif charted.any():  # (out is 0 where the chart is not yet trusted)
            out.written("drift")[t] = np.where(charted, np.abs(e) / sd, 0.0)
        if age_floor:
            age_floor = not bool(age.min(initial=np.inf) >= 1e-9)
        if age_one is not None:
            rate = mdtz_col[t] / (max(age_one, 1e-9) if age_floor else age_one)
            rv_t: Array | np.float32 = np.float32(max(rate, var_col[t]))
        else:
            np.divide(mdtz[t], np.maximum(age, 1e-9, out=age_q) if age_floor else age, out=rv64)
            np.maximum(rv64, var_rate_row(t), out=rv64)  # (operands swapped: the same max)
            if not all_swarm:
                np.multiply(rv64, sw, out=rv64)
            np.copyto(rv, rv64, casting="same_kind")
            rv_t = rv
        ve += rv_t * (np.minimum(e * e, c * c * var) - ve)

    bins.note_visits(bin_rows, visit_w)
    # only evidence above z_zero can score, and a Student-t map never raises its input
    # (z <= t, and the tail rescaling is at most 1): smaller ones are left 0, NaN stays NaN
    z_zero = cfg.z_zero
    at = np.flatnonzero(spike_warm & ~(spike_z < z_zero))
    t_stat = spike_z.reshape(-1)[at] * (zq / np.maximum(spike_q[:-1].reshape(-1)[at], zq))
    if moved_enough:  # (whole numbers below 2^53: the same sums in any order)
        moves_at = spike_moves[0][at % n_s] + moved[:-1].reshape(-1)[at]
        spike_moves[-1] = spike_moves[0] + moved[-1]
    else:
        moves_at = spike_moves[:-1].reshape(-1)[at]
    span = rt.span_run[:-1]
    span_at = span[at // n_s, 0] if span.shape[1] == 1 else span.reshape(-1)[at]
    dof_span = span_at / cfg.spread_dof_s
    dof = np.maximum(np.minimum(moves_at - 2.0, dof_span), 1.0)
    if at.size:
        out.written("spike").reshape(-1)[at] = t_to_z(t_stat, dof)
    at = np.flatnonzero(season_warm & ~(season_z < z_zero))
    if at.size:
        t_stat = season_z.reshape(-1)[at] * (zq / np.maximum(season_q[:-1].reshape(-1)[at], zq))
        dof = np.maximum(season_v.reshape(-1)[at] - 1.0, 0.5)
        out.written("seasonal").reshape(-1)[at] = t_to_z(t_stat, dof)
    gap_lim = 0.5 * z_zero * z_zero
    # series sharing one interval column: nothing can score unless that column can
    shared_gap = n_s > 1 and gap_nats.strides[1] == 0
    if not shared_gap or bool((~(gap_nats[:, 0] < gap_lim)).any()):
        at = np.flatnonzero(rt.gap_ok & ~(gap_nats < gap_lim))
        if at.size:
            out.written("gap").reshape(-1)[at] = np.sqrt(2.0 * gap_nats.reshape(-1)[at])
    st["n"], st["n_dt"] = rt.n_end, rt.ndt_end
    st["span_s"] = np.broadcast_to(rt.span_run[-1], (n_s,)).copy()
    st["q_spike"], st["q_season"] = spike_q[-1].copy(), q_se.astype(np.float64)
    st["e"], st["ve"] = e.astype(np.float64), ve.astype(np.float64)
    st["moves"] = spike_moves[-1].copy()
    return out
