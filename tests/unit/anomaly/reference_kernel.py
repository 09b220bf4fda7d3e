"""Reference for tests: the detector recursion written plainly, one step at a time.

This is the engine's kernel before it was optimized (peakline_core/anomaly/kernel.py): every
step gathers its seasonal bins from the profile and scatters them back. It is kept to hold
the optimized kernel to the same results, bit for bit
(test_anomaly_kernel_reference.py); it does the same float32 arithmetic (the seasonal section
and the drift chart, issue 18's float32 pass). Its evidence is complete; the optimized kernel may
report evidence that cannot score (below z_zero) as 0.

The recursive detectors: one pass over time, each step vectorized across all series.

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
  for counters and values moving by a few register steps, lambda * dt instead, lambda the
  rate of changes per second (-ln of the share of unchanged modelled intervals over their
  mean length), at most -ln(flat_q_min) per reading;
- gap: interval since the previous reading against the learnt mean and deviation of
  intervals, as the surprise of an exponential tail (so Poisson-like event-driven streams and
  strictly periodic polls are both judged by their own regularity).

Spike and seasonal z are self-calibrated to the series' own tails: a tracked `tail_p`
quantile of |z| is mapped onto the Gaussian one, so heavy-tailed series are not flagged more
often than light-tailed ones. Their spread is never below the sd of the modelled value's
quantization error (`Prepared.x_err` / sqrt 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from peakline_core.anomaly.config import AnomalyConfig
from peakline_core.anomaly.prepare import VISIT_S, Prepared
from peakline_core.anomaly.state import BINS, Array

MAD_TO_SD = 1.2533141373155  # sqrt(pi/2): mean absolute deviation -> sd for Gaussian noise
LN2 = 0.6931471805599453
ERR_TO_SD = 0.4082482904638631  # 1/sqrt(6)


@dataclass(slots=True)
class Evidence:
    """Per-reading evidence from the recursive detectors, each [time, series] float32."""

    spike: Array
    seasonal: Array
    drift: Array
    flat_nats: Array
    gap: Array
    settled: Array  # bool: the series had `event_warmup_s` of data before this reading


def _halflife_rate(dt_s: Array, halflife_s: float) -> Array:
    """Exponential-forgetting weight of a reading arriving dt_s after the previous one."""
    return -np.expm1(-LN2 * np.nan_to_num(dt_s) / halflife_s)


def t_to_z(t: Array, dof: Array) -> Array:
    """Gaussian-equivalent of a Student-t statistic |t| with `dof` degrees of freedom
    (Wallace 1959): a spread estimated from few samples must not look like a known one."""
    z: Array = np.sqrt(dof * np.log1p(t * t / dof)) * ((8.0 * dof + 1.0) / (8.0 * dof + 3.0))
    return z


def _neighbours(bi: Array, base: Array) -> tuple[Array, Array]:
    """Flat indices of the bins an hour before and after `bi`, on the same day type."""
    local = bi - base
    hour, day = local % 24, base + local - local % 24
    return day + (hour + 23) % 24, day + (hour + 1) % 24


def _routine_innovation(pin: Array, pv: Array, bins: tuple[Array, ...]) -> Array:
    """Largest learnt mean square innovation among `bins` (flat indices, one per series);
    bins not yet visited count as 0."""
    best = np.zeros(bins[0].shape, dtype=np.float64)
    for nb in bins:
        np.maximum(best, np.where(pv[nb] >= 1.0, pin[nb], 0.0), out=best)
    return best


def run(st: dict[str, Array], p: Prepared, cfg: AnomalyConfig) -> Evidence:
    """Advance every recursion over the batch, updating the state rows `st` in place."""
    n_t, n_s = p.x.shape
    z0, z1, z2, z3, z4 = (np.zeros((n_t, n_s), dtype=np.float32) for _ in range(5))
    out = Evidence(z0, z1, z2, z3, z4, np.zeros((n_t, n_s), dtype=bool))
    if n_t == 0:
        return out
    zq = NormalDist().inv_cdf(1 - cfg.tail_p / 2)
    c = cfg.huber_c
    beta_n = -np.expm1(-LN2 / cfg.scale_halflife_readings)
    gap_rate = -np.expm1(-LN2 / cfg.gap_halflife_readings)
    # per-reading rates that depend only on the span of the modelled value: vectorized up
    # front (the gap detector alone uses the interval between readings)
    beta = np.minimum(_halflife_rate(p.model_dt, cfg.scale_halflife_s), beta_n)
    lam = _halflife_rate(p.model_dt, cfg.drift_halflife_s)
    var_rate = _halflife_rate(p.model_dt, cfg.drift_var_halflife_s)
    dtz = np.nan_to_num(p.dt_s)
    mdtz = np.nan_to_num(p.model_dt)
    err_sd = np.zeros(p.x.shape) if p.x_err is None else p.x_err * ERR_TO_SD
    has_dt = ~np.isnan(p.dt_s)
    mvf = p.model_valid.astype(np.float64)
    keep_run = p.unchanged | ~p.valid

    n, moves, mu, trend, s = st["n"], st["moves"], st["mu"], st["trend"], st["s"]
    q_sp = np.where(st["q_spike"] > 0, st["q_spike"], zq)
    # the seasonal section runs in float32, like the profile it learns
    f32 = np.float32
    q_se = np.where(st["q_season"] > 0, st["q_season"], zq).astype(f32)
    err32 = err_sd.astype(f32)
    e, ve, age = st["e"].astype(f32), st["ve"].astype(f32), st["drift_age_s"]  # chart: float32
    lam32 = lam.astype(f32)
    lam_var32 = np.maximum(lam / (2.0 - lam), 1e-12).astype(f32)
    flat, dm, dd, ndt = st["flat"], st["dt_mean"], st["dt_dev"], st["n_dt"]
    names = ("p_mean", "p_dev", "p_visits", "p_still", "p_innov", "p_dt")
    pm, pd_, pv, pst, pin, pdt = (st[k].reshape(-1) for k in names)
    span, vsq, vw = st["span_s"], st["visit_sq"], st["visit_w"]
    vbin = st["visit_bin"]
    base = BINS * np.arange(n_s, dtype=np.int64)
    inf = np.inf

    for t in range(n_t):
        x, v, vf = p.x[t], p.model_valid[t], mvf[t]
        # --- spike: robust level and spread ---
        bi = base + np.broadcast_to(p.bins[t], (n_s,))
        m_b, d_b, v_b, st_b, sdt_b = pm[bi], pd_[bi], pv[bi], pst[bi], pdt[bi]
        sig_all = MAD_TO_SD * s + 1e-12 * (np.abs(mu) + 1.0)
        # a schedule ramp at 08:00 is routine for the 08:00 bin: the spread is the larger of
        # the series-wide one and this bin's RMS innovation (seasonal heteroscedasticity)
        # and its neighbours: schedules and sunrise shift by an hour over days and seasons
        before, after = _neighbours(bi, base)
        routine = _routine_innovation(pin, pv, (before, bi, after))
        # a bin not yet visited (the first Saturday) borrows the other day type's hour
        other = base + (bi - base + 24) % BINS
        routine = np.where(v_b < 1.0, np.maximum(routine, pin[other] * (pv[other] >= 1.0)), routine)
        sig = np.maximum(np.maximum(sig_all, np.sqrt(routine)), err_sd[t])
        # a spread is only known once the series has moved; readings within one hour are
        # one regime, so its degrees of freedom grow with hours seen, not readings
        warm = v & (moves >= cfg.warmup_readings)
        r = x - mu - trend
        z = np.abs(r) / sig
        dof = np.maximum(np.minimum(moves - 2.0, span / cfg.spread_dof_s), 1.0)
        zt = t_to_z(z * (zq / np.maximum(q_sp, zq)), dof)
        out.spike[t] = np.where(warm, zt, 0.0)
        q_sp += np.where(warm, cfg.tail_rate * q_sp * ((z > q_sp) - cfg.tail_p), 0.0)
        bound = np.where(warm, c * sig, inf)
        innov_ok = vf * (n >= 1)
        out.settled[t] = span >= cfg.event_warmup_s
        n += vf
        span += p.visits[t] * VISIT_S
        moves += vf * (r != 0)
        step = (
            np.maximum(cfg.level_alpha, 1.0 / np.maximum(n, 1.0)) * vf * np.clip(r, -bound, bound)
        )
        mu += trend * vf + step
        trend += (n >= 2) * cfg.trend_gamma * step
        b = np.where(n >= 2, np.maximum(beta[t], 1.0 / np.maximum(n - 1.0, 1.0)), 0.0) * vf
        # the series-wide spread learns only what is not routine for the hour, so a step at
        # 08:00 every day does not blunt the spike test at 13:00
        s += b * (np.minimum(np.abs(r), np.where(warm, c * sig_all, inf)) - s)

        # --- seasonal profile (float32) ---
        # out-of-sample spread, widened for a mean learnt from few visits
        x_s, s4 = x.astype(f32), (0.25 * s).astype(f32)
        infl = np.sqrt(1.0 + 1.0 / np.maximum(v_b, 1.0))
        sig_b = MAD_TO_SD * infl * np.maximum(d_b, s4) + 1e-12 * (np.abs(m_b) + 1.0)
        sig_b = np.maximum(sig_b, err32[t])
        res = x_s - m_b
        zs = zs_own = res / sig_b
        swarm = v & (v_b >= cfg.season_warmup_visits)
        # a value the profile holds an hour earlier or later is a shifted schedule or sunrise,
        # not an anomaly: judge by the best-fitting of the three neighbouring bins
        for nb in (before, after):
            v_n = pv[nb]
            sig_n = MAD_TO_SD * np.sqrt(1.0 + 1.0 / np.maximum(v_n, 1.0))
            sig_n = sig_n * np.maximum(pd_[nb], s4) + 1e-12 * (np.abs(pm[nb]) + 1.0)
            sig_n = np.maximum(sig_n, err32[t])
            z_n = (x_s - pm[nb]) / sig_n
            zs = np.where((v_n >= cfg.season_warmup_visits) & (np.abs(z_n) < np.abs(zs)), z_n, zs)
        azs = np.abs(zs)
        zt = t_to_z(azs * (zq / np.maximum(q_se, zq)), np.maximum(v_b - 1.0, 0.5))
        out.seasonal[t] = np.where(swarm, zt, 0.0)
        q_se += np.where(swarm, f32(cfg.tail_rate) * q_se * ((azs > q_se) - f32(cfg.tail_p)), 0.0)
        w = p.visits[t].astype(f32)
        v_new = v_b + w  # visits ever seen; the averages remember at most the memory
        lr = w / np.maximum(np.minimum(v_new, cfg.season_memory_visits), 1e-9)
        bnd = np.where(v_b >= cfg.season_warmup_visits, c * sig_b, inf)
        pm[bi] = m_b + lr * np.clip(res, -bnd, bnd)
        # the spread only learns from readings the bin mean had not seen (after visit one)
        lr_dev = np.where(
            v_b >= 1.0, w / np.maximum(np.minimum(v_new - 1.0, cfg.season_memory_visits), 1e-9), 0.0
        )
        pd_[bi] = d_b + np.minimum(lr_dev, 1.0) * (np.minimum(np.abs(res), bnd) - d_b)
        pv[bi] = v_new
        pst[bi] = st_b + lr * (p.still[t] - st_b)
        pdt[bi] = sdt_b + lr * ((p.visits[t] * VISIT_S).astype(f32) - sdt_b)
        # the bin learns one mean square per visit, clipped at c^2 times what it knew: a ramp
        # that recurs every day is learnt, a fault within one visit cannot mask itself
        wi = p.visits[t] * innov_ok
        done = (vbin >= 0) & (bi != vbin + base) & (vw > 0)
        fi = np.where(done, vbin + base, bi)
        old, visits = pin[fi], pv[fi]
        ms = vsq / np.maximum(vw, 1e-12)
        ms = np.where(visits > vw + 1e-9, np.minimum(ms, c * c * np.maximum(old, routine)), ms)
        lr_v = np.minimum(vw / np.maximum(np.minimum(visits, cfg.season_memory_visits), 1e-9), 1)
        pin[fi] = np.where(done, old + lr_v * (ms - old), old)
        vsq *= ~done
        vw *= ~done
        vsq += wi * r * r
        vw += wi
        vbin = np.where(wi > 0, bi - base, vbin)

        # --- drift: EWMA chart on clipped seasonal residuals ---
        sw = swarm.astype(np.float64)
        lam_t = lam32[t] * swarm.astype(f32)
        e += lam_t * (np.clip(zs_own, -c, c) - e)
        age += mdtz[t] * sw
        var = np.maximum(ve, lam_var32[t])
        sd = np.sqrt(var)
        # a capped chart forgets a big incident within about one halflife once it ends
        np.clip(e, -cfg.drift_cap_z * sd, cfg.drift_cap_z * sd, out=e)
        out.drift[t] = np.where(swarm & (age >= cfg.drift_warmup_s), np.abs(e) / sd, 0.0)
        rv = (np.maximum(var_rate[t], mdtz[t] / np.maximum(age, 1e-9)) * sw).astype(f32)
        ve += rv * (np.minimum(e * e, c * c * var) - ve)

        # --- flatline: surprise of the run of unchanged values ---
        still = np.clip(st_b, cfg.flat_q_min, 1.0)
        ready = p.unchanged[t] & (v_b >= 0.25)
        per_reading = -np.log(still)
        per_time = np.minimum(
            per_reading * (dtz[t] / np.maximum(sdt_b, 1e-9)), -np.log(cfg.flat_q_min)
        )
        step = np.full(n_s, np.inf) if p.step is None else p.step[t]
        scale = np.sqrt(np.minimum(dtz[t] / np.maximum(sdt_b, 1e-9), 1.0))
        by_time = st["counter"] | (s * scale <= cfg.flat_step_limited * step)
        flat += np.where(ready, np.where(by_time, per_time, per_reading), 0.0)
        flat *= keep_run[t]
        out.flat_nats[t] = flat

        # --- gap: interval against the learnt interval ---
        hd = has_dt[t]
        dtt = dtz[t]
        # exponential tail beyond the mean interval, never steeper than 3 nats per interval
        nats = np.maximum(dtt - dm, 0.0) / np.maximum(dd, dm / 3.0 + 1e-9)
        out.gap[t] = np.where(hd & (ndt >= cfg.gap_warmup_readings), np.sqrt(2.0 * nats), 0.0)
        ndt += hd
        g = np.maximum(gap_rate, 1.0 / np.maximum(ndt, 1.0)) * hd
        dtc = np.where(ndt > cfg.gap_warmup_readings, np.minimum(dtt, 3.0 * dm), dtt)
        dd += g * (np.abs(dtc - dm) - dd)
        dm += g * (dtc - dm)

    st["q_spike"], st["q_season"], st["visit_bin"] = q_sp, q_se.astype(np.float64), vbin
    st["e"], st["ve"] = e.astype(np.float64), ve.astype(np.float64)
    return out
