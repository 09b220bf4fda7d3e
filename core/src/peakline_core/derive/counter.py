"""Glitch-robust energy from a cumulative counter: a causal walk with confirmation.

A meter's energy counter only ever rises (or wraps at its rollover). Its readings still
glitch: a torn 32-bit read, a sample multiplied by a firmware fault, a register read while
the meter reboots. The walk keeps the **last good reading** and accepts a new one only when
the step from it is plausible: at least zero and at most `max_kw` times the time since.

- An implausible reading opens an **excursion**. If a later reading within `horizon_s`
  is plausible again from the last good one, the excursion was a glitch: its readings are
  dropped (counted as suspect), and the energy from the last good reading to the returning
  one is counted as *estimated* (the counter itself says how much was used; only its
  spread in time is unknown).
- If nothing returns within `horizon_s`, the walk believes a **regime change** from the
  first reading that starts `confirm_n` consecutive plausible steps: a fall is a counter
  reset (the new reading counts as energy since zero when that is plausible), a rise is a
  rebase (a replaced or re-programmed meter: the jump is *suspect* and not counted).
- A counter that stood still and then catches up in one implausible step (a frozen
  register) is spread over the time it stood still, when the catch-up is plausible over
  that span: *estimated*.
- A `replacements` entry (a configured meter swap: time, the old counter's last value, the
  new one's first) closes the old counter at that value and starts the new one from it.

The walk is causal and deterministic: feeding the same readings in any split into chunks
(with the state carried between them) gives the same intervals. An excursion not yet
resolved stays in the state as *pending* and decides nothing until data decides it.
Per-reading work is a Python step only where a step is implausible; runs of plausible
steps are handled with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from peakline_core.derive.intervals import Intervals, IntervalSink

NS_PER_H = 3_600_000_000_000
NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class CounterLimits:
    """What a counter may plausibly do.

    `max_kw` the most power the metered load can draw (kW); `rollover` the counter's wrap
    (kWh, None: never wraps); `horizon_s` how long a glitch may last before a level change
    is believed; `confirm_n` consecutive plausible steps that confirm a new level;
    `tolerance_kwh` a fall this small is noise (rounding), not a reset; `gap_s` a step
    over a longer time than this is spread as a straight line (estimated); `max_spread_s`
    the longest time a frozen counter's catch-up is spread over.
    """

    max_kw: float
    rollover: float | None = None
    horizon_s: float = 600.0
    confirm_n: int = 3
    tolerance_kwh: float = 1e-6
    gap_s: float = 900.0
    max_spread_s: float = 7200.0


@dataclass(slots=True)
class CounterState:
    """Carried between chunks: the last good reading, when the counter last moved, and
    the readings of an unresolved excursion (ts ns, value kWh)."""

    t: int = -1
    v: float = 0.0
    t_change: int = -1
    pending_t: list[int] = field(default_factory=list)
    pending_v: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "v": self.v,
            "t_change": self.t_change,
            "pending_t": list(self.pending_t),
            "pending_v": list(self.pending_v),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CounterState:
        return cls(
            int(data["t"]),
            float(data["v"]),
            int(data["t_change"]),
            [int(x) for x in data.get("pending_t", [])],
            [float(x) for x in data.get("pending_v", [])],
        )


@dataclass(slots=True)
class CounterStats:
    """What the walk rejected or believed, for metrics and the rows' quality."""

    glitches: int = 0
    resets: int = 0
    rebases: int = 0
    rollovers: int = 0
    catch_ups: int = 0


def _cap(limits: CounterLimits, dt_ns: int) -> float:
    return limits.max_kw * dt_ns / NS_PER_H + limits.tolerance_kwh


def _spread_from(limits: CounterLimits, state: CounterState, t: int) -> int:
    """Where a frozen counter's catch-up at t is spread from."""
    return max(state.t_change, t - int(limits.max_spread_s * NS))


def _step(limits: CounterLimits, state: CounterState, t: int, x: float) -> tuple[str, float]:
    """Classify the step from the last good reading to (t, x): ('ok'|'wrap'|'catch_up'|'bad',
    kWh)."""
    d = x - state.v
    dt = t - state.t
    if -limits.tolerance_kwh <= d < 0:
        return "ok", 0.0
    if d >= 0:
        if d <= _cap(limits, dt):
            return "ok", d
        if state.t_change >= 0 and d <= _cap(limits, t - _spread_from(limits, state, t)):
            return "catch_up", d
        return "bad", d
    roll = limits.rollover
    if roll is not None and state.v > roll / 2:
        wrapped = d + roll
        if 0 <= wrapped <= _cap(limits, dt):
            return "wrap", wrapped
    return "bad", d


def walk_counter(
    state: CounterState,
    ts: Any,
    values: Any,
    limits: CounterLimits,
    sink: IntervalSink,
    stats: CounterStats | None = None,
    replacements: tuple[tuple[int, float, float], ...] = (),
) -> CounterState:
    """Advance the walk over readings `ts` (UTC ns, increasing) / `values` (kWh); intervals
    go to `sink`. Readings not newer than the state's last one are ignored (redelivery).
    Returns the new state (the argument is not modified)."""
    stats = stats if stats is not None else CounterStats()
    t_new = np.asarray(ts, dtype=np.int64)
    v_new = np.asarray(values, dtype=np.float64)
    newest = max(state.t, state.pending_t[-1] if state.pending_t else -1)
    keep = (t_new > newest) & np.isfinite(v_new)
    t_all = np.concatenate([np.asarray(state.pending_t, np.int64), t_new[keep]])
    v_all = np.concatenate([np.asarray(state.pending_v, np.float64), v_new[keep]])
    s = CounterState(state.t, state.v, state.t_change)
    i, n = 0, t_all.size
    while i < n:
        if s.t < 0:  # the first reading: an anchor, no energy
            s = CounterState(int(t_all[i]), float(v_all[i]), int(t_all[i]))
            i += 1
            continue
        swap = next((r for r in replacements if s.t < r[0] <= int(t_all[i])), None)
        if swap is not None:  # the old counter ends at its last value, the new one starts
            at, old_kwh, new_kwh = swap
            kwh = old_kwh - s.v
            if 0 <= kwh <= _cap(limits, at - s.t):
                sink.add(s.t, at, kwh, kwh, 0.0)
            else:
                sink.add(s.t, at, 0.0, 0.0, abs(kwh))
            s = CounterState(at, new_kwh, at)
            continue
        stop = next((r[0] for r in replacements if r[0] > s.t), None)
        end = n if stop is None else int(np.searchsorted(t_all, stop, side="left"))
        i = _fast_run(s, t_all[:end], v_all[:end], i, limits, sink)
        if i >= end:  # the end, or a swap comes next
            continue
        t, x = int(t_all[i]), float(v_all[i])
        kind, kwh = _step(limits, s, t, x)
        if kind in ("ok", "wrap"):  # a wrap, or a fall within rounding noise
            stats.rollovers += kind == "wrap"
            sink.add(s.t, t, kwh, kwh if t - s.t > limits.gap_s * NS else 0.0, 0.0)
            _advance(s, t, x, kwh)
            i += 1
            continue
        if kind == "catch_up":
            stats.catch_ups += 1
            sink.add(_spread_from(limits, s, t), t, kwh, kwh, 0.0)
            _advance(s, t, x, kwh)
            i += 1
            continue
        decided = _excursion(s, t_all, v_all, i, limits, sink, stats)
        if decided is None:  # undecided until more data: keep the excursion pending
            s.pending_t = t_all[i:].tolist()
            s.pending_v = v_all[i:].tolist()
            return s
        i = decided
    return s


def _advance(s: CounterState, t: int, x: float, kwh: float) -> None:
    if kwh > 0:
        s.t_change = t
        s.v = x
    s.t = t


def _fast_run(
    s: CounterState, t: Any, v: Any, i: int, limits: CounterLimits, sink: IntervalSink
) -> int:
    """Accept the longest run of plausible steps from index i at once (numpy); returns the
    index of the first reading the run did not take."""
    tt = np.concatenate([[s.t], t[i:]])
    vv = np.concatenate([[s.v], v[i:]])
    d = np.diff(vv)
    cap = limits.max_kw * np.diff(tt) / NS_PER_H + limits.tolerance_kwh
    # a step is plausible from the previous reading only while no earlier step was noise:
    # a tiny fall keeps the last good value, so stop the vector run at the first one
    good = (d >= 0) & (d <= cap)
    stop = int(np.argmin(good)) if not good.all() else good.size
    if stop == 0:
        return i
    t0, t1, e = tt[:stop], tt[1 : stop + 1], d[:stop]
    sink.add_many(t0, t1, e, estimated=(t1 - t0) > limits.gap_s * NS)
    moved = np.flatnonzero(e > 0)
    if moved.size:
        s.t_change = int(t1[moved[-1]])
        s.v = float(vv[moved[-1] + 1])
    s.t = int(t1[-1])
    return i + stop


def _excursion(
    s: CounterState,
    t: Any,
    v: Any,
    i: int,
    limits: CounterLimits,
    sink: IntervalSink,
    stats: CounterStats,
) -> int | None:
    """Resolve the excursion starting at index i; returns where the walk goes on, or None
    when the data cannot decide yet."""
    horizon = int(limits.horizon_s * NS)
    start = int(t[i])
    j = i + 1
    while j < t.size and int(t[j]) - start <= horizon:
        kind, kwh = _step(limits, s, int(t[j]), float(v[j]))
        if kind != "bad":  # back where the counter was: the excursion was a glitch
            stats.glitches += j - i
            sink.mark_suspect(t[i:j])
            spread_from = _spread_from(limits, s, int(t[j])) if kind == "catch_up" else s.t
            sink.add(spread_from, int(t[j]), kwh, kwh, 0.0)
            stats.rollovers += kind == "wrap"
            _advance(s, int(t[j]), float(v[j]), kwh)
            return j + 1
        j += 1
    if int(t[-1]) - start <= horizon:
        return None
    k = _confirmed_level(t, v, i, limits)
    if k is None:  # garbage throughout the horizon: drop the first reading, look again
        stats.glitches += 1
        sink.mark_suspect(t[i : i + 1])
        return i + 1
    tk, xk = int(t[k]), float(v[k])
    stats.glitches += k - i
    sink.mark_suspect(t[i:k])
    if xk < s.v:  # a confirmed fall: the counter restarted from zero
        stats.resets += 1
        if 0 <= xk <= _cap(limits, tk - s.t):
            sink.add(s.t, tk, xk, xk, 0.0)
        else:
            sink.mark_suspect(t[k : k + 1])
            sink.add(s.t, tk, 0.0, 0.0, xk)
    else:  # a confirmed jump: a new level, the jump itself not counted
        stats.rebases += 1
        sink.mark_suspect(t[k : k + 1])
        sink.add(s.t, tk, 0.0, 0.0, xk - s.v)
    s.t, s.v, s.t_change = tk, xk, tk
    return k + 1


def _confirmed_level(t: Any, v: Any, i: int, limits: CounterLimits) -> int | None:
    """First index k >= i from which `confirm_n` consecutive steps are plausible."""
    need = limits.confirm_n
    for k in range(i, t.size - need):
        d = np.diff(v[k : k + need + 1])
        cap = limits.max_kw * np.diff(t[k : k + need + 1]) / NS_PER_H + limits.tolerance_kwh
        if bool(((d >= -limits.tolerance_kwh) & (d <= cap)).all()):
            return k
    return None


def counter_intervals(
    ts: Any,
    values: Any,
    limits: CounterLimits,
    replacements: tuple[tuple[int, float, float], ...] = (),
) -> tuple[Intervals, CounterState, CounterStats]:
    """The whole walk over one series from a fresh state (tests, re-derivation)."""
    sink = IntervalSink()
    stats = CounterStats()
    state = walk_counter(CounterState(), ts, values, limits, sink, stats, replacements)
    return sink.intervals(), state, stats
