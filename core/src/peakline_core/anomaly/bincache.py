"""Working vectors of each series' current seasonal bin, so the detector loop never gathers.

A series stays in one bin (one local hour) for every reading of that hour, and while it does,
only that bin of its profile changes: its mean, spread, visits, share of unchanged intervals
and their mean length are updated at every reading, everything else the step reads from the
profile (the neighbouring hours, the other day type, the bin's routine innovation) stays
constant. So the bin's values are held in
per-series vectors and the derived, constant ones are computed once: gathered from the
[series, BINS] profile when a series enters a bin and written back when it leaves, for the
series that change bin at that step only (all of them at the first step of a chunk).

The one profile write not to the current bin is the routine innovation of a *finished* visit,
made when a series enters a new bin; the derived vectors of those series are recomputed at
the next step (the step itself must still see the old value, as the plain recursion does).
"""

from __future__ import annotations

import numpy as np

from peakline_core.anomaly.config import AnomalyConfig
from peakline_core.anomaly.state import BINS, Array

MAD_TO_SD = 1.2533141373155  # sqrt(pi/2), as in kernel.py


class BinCache:
    """Current-bin working vectors of a chunk's series; `st` is the chunk's state rows."""

    def __init__(self, st: dict[str, Array], base: Array, cfg: AnomalyConfig) -> None:
        names = ("p_mean", "p_dev", "p_visits", "p_still", "p_innov", "p_dt")
        self.pm, self.pd, self.pv, self.pst, self.pin, self.pdt = (st[k].reshape(-1) for k in names)
        self.st = st
        self.base = base
        self.cfg = cfg
        n = base.shape[0]
        self.cur = np.full(n, -1, dtype=np.int64)  # flat profile index of the cached bin
        self.mean, self.dev, self.visits, self.still, self.still_dt = (
            np.zeros(n, dtype=np.float32) for _ in range(5)
        )
        # largest routine mean square innovation of the neighbourhood, for a visited bin
        # (hour before, the hour, hour after) and an unvisited one (borrows the other day
        # type's hour), and their square roots
        self.routine_in, self.routine_out, self.sq_routine_in, self.sq_routine_out = (
            np.zeros(n) for _ in range(4)
        )
        # seasonal neighbours (hour before, hour after): mean (NaN until warm), spread,
        # spread inflation, spread floor
        self.neighbours = [tuple(np.zeros(n, dtype=np.float32) for _ in range(4)) for _ in "ab"]
        self.warm_neighbours = list(self.neighbours)  # those warm for at least one series
        self.dirty: Array | None = None

    def switch(self, rows: Array, bin_row: Array) -> None:
        """`rows` enter bin `bin_row[rows]` at this step: write the bin they leave back, load
        the new one, and let a visit that ended teach its bin its routine innovation.

        A visit still collecting innovations (weight > 0) is always of the bin being left:
        its weight restarts at every bin change and every weighted reading is in the bin. At
        the first step of a batch (nothing cached yet) the visit's bin comes from the state.
        """
        old = self.cur[rows]
        vw = self.st["visit_w"][rows]
        cached = old >= 0
        ended = cached & (vw > 0)
        ended_bin = old.copy()
        if not cached.all():
            vbin = self.st["visit_bin"][rows]
            base = self.base[rows]
            fresh = ~cached & (vbin >= 0) & (bin_row[rows] != vbin + base) & (vw > 0)
            ended |= fresh
            ended_bin = np.where(cached, old, vbin + base)
        self._write_back(rows[cached], old[cached])
        self._load(rows, bin_row)
        self._close_visits(rows[ended], ended_bin[ended])

    def refresh(self) -> None:
        """Recompute the derived vectors of series whose finished visit changed the profile."""
        if self.dirty is not None:  # (a finished visit changes no mean, spread or visits)
            self._derive_routine(self.dirty, self.cur[self.dirty])
            self.dirty = None

    def note_visits(self, bin_index: Array, visit_w: Array) -> None:
        """End of a chunk ([T, S] flat bins and innovation weights): the state's visit bin is
        that of the last weighted reading."""
        if bool((visit_w[-1] > 0).all()):  # the common case: every last reading weighs
            self.st["visit_bin"] = bin_index[-1] - self.base
            return
        weighted = visit_w > 0
        seen = weighted.any(axis=0)
        last = weighted.shape[0] - 1 - np.argmax(weighted[::-1], axis=0)
        last_bin = bin_index[last, np.arange(weighted.shape[1])] - self.base
        self.st["visit_bin"] = np.where(seen, last_bin, self.st["visit_bin"])

    def write_back(self) -> None:
        """End of a batch: every cached bin back into the profile."""
        rows = np.flatnonzero(self.cur >= 0)
        self._write_back(rows, self.cur[rows])

    def _write_back(self, rows: Array, flat: Array) -> None:
        self.pm[flat] = self.mean[rows]
        self.pd[flat] = self.dev[rows]
        self.pv[flat] = self.visits[rows]
        self.pst[flat] = self.still[rows]
        self.pdt[flat] = self.still_dt[rows]

    def _load(self, rows: Array, bin_row: Array) -> None:
        flat = bin_row[rows]
        self.cur[rows] = flat
        self.mean[rows] = self.pm[flat]
        self.dev[rows] = self.pd[flat]
        self.visits[rows] = self.pv[flat]
        self.still[rows] = self.pst[flat]
        self.still_dt[rows] = self.pdt[flat]
        self._derive(rows, flat)

    def _neighbours(self, rows: Array, flat: Array) -> tuple[Array, Array, Array]:
        """Flat profile indices of the hour before, the hour after and the other day type's
        hour of bins `flat` of series `rows`."""
        base = self.base[rows]
        local = flat - base
        hour, day = local % 24, base + local - local % 24
        before, after = day + (hour + 23) % 24, day + (hour + 1) % 24
        return before, after, base + (local + 24) % BINS

    def _derive(self, rows: Array, flat: Array) -> None:
        near = self._neighbours(rows, flat)
        self._derive_routine(rows, flat, near)
        before, after, _ = near
        pv, pm, pd = self.pv, self.pm, self.pd
        for (mean, dev, infl, eps), nb in zip(self.neighbours, (before, after), strict=True):
            v_n = pv[nb]
            infl[rows] = MAD_TO_SD * np.sqrt(1.0 + 1.0 / np.maximum(v_n, 1.0))
            mean[rows] = np.where(v_n >= self.cfg.season_warmup_visits, pm[nb], np.nan)
            dev[rows] = pd[nb]
            eps[rows] = 1e-12 * (np.abs(pm[nb]) + 1.0)
        self.warm_neighbours = [nb for nb in self.neighbours if not np.isnan(nb[0]).all()]

    def _derive_routine(
        self, rows: Array, flat: Array, near: tuple[Array, Array, Array] | None = None
    ) -> None:
        pin, pv = self.pin, self.pv
        before, after, other = self._neighbours(rows, flat) if near is None else near
        best = np.zeros(rows.shape[0])
        np.maximum(best, np.where(pv[before] >= 1.0, pin[before], 0.0), out=best)
        without = np.maximum(best, 0.0)  # the bin's own term is 0 while it is unvisited
        np.maximum(best, pin[flat], out=best)
        np.maximum(best, np.where(pv[after] >= 1.0, pin[after], 0.0), out=best)
        np.maximum(without, np.where(pv[after] >= 1.0, pin[after], 0.0), out=without)
        without = np.maximum(without, pin[other] * (pv[other] >= 1.0))
        self.routine_in[rows] = best
        self.routine_out[rows] = without
        self.sq_routine_in[rows] = np.sqrt(best)
        self.sq_routine_out[rows] = np.sqrt(without)

    def _close_visits(self, rows: Array, flat: Array) -> None:
        """The visit of bin `flat` ended for `rows`: the bin learns its mean square
        innovation, clipped at c^2 times what it knew, so a ramp that recurs every day is
        learnt while a fault within one visit cannot mask itself."""
        if rows.size == 0:
            return
        cfg = self.cfg
        c = cfg.huber_c
        vsq, vw = self.st["visit_sq"], self.st["visit_w"]
        routine = np.where(self.visits[rows] >= 1.0, self.routine_in[rows], self.routine_out[rows])
        w = vw[rows]
        old, visits = self.pin[flat], self.pv[flat]
        ms = vsq[rows] / np.maximum(w, 1e-12)
        ms = np.where(visits > w + 1e-9, np.minimum(ms, c * c * np.maximum(old, routine)), ms)
        lr_v = np.minimum(w / np.maximum(np.minimum(visits, cfg.season_memory_visits), 1e-9), 1)
        self.pin[flat] = old + lr_v * (ms - old)
        vsq[rows] *= False
        vw[rows] *= False
        self.dirty = rows if self.dirty is None else np.union1d(self.dirty, rows)
