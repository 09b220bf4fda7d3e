"""Working vectors of each series' current seasonal bin, so the detector loop never gathers.

A series stays in one bin (one local hour) for every reading of that hour, and while it does,
only that bin of its profile changes: its mean, spread, visits, share of unchanged intervals
and their mean length are updated at every reading, everything else the step reads from the
profile (the neighbouring hours, the other day type, the bin's routine innovation) stays
constant. So the bin's values are held in per-series vectors and the derived, constant ones
are computed once: gathered from the profile when a series enters a bin and written back
when it leaves, for the series that change bin at that step only (all of them at the first
step of a batch).

The one profile write not to the current bin is the routine innovation of a *finished* visit,
made when a series enters a new bin; the derived vectors of those series are recomputed at
the next step (the step itself must still see the old value, as the plain recursion does).

The state holds the profile as [series, BINS]. A batch that changes bins again and again (a
day of minute readings: every hour) works on a [BINS, series] copy of it, made once every
series has changed bin and written back at the batch's end: a bin change then gathers each
field from one contiguous row instead of one cache line per series, the profile being out of
cache by then (a day of minute readings of 10,000 series spent 63 ms in bin changes, 43 ms
with the copy). A batch that changes bin once (ingest, crossing an hour) keeps the state's
layout.
"""

from __future__ import annotations

import numpy as np

from peakline_core.anomaly.config import AnomalyConfig
from peakline_core.anomaly.prepare import series_major, time_major
from peakline_core.anomaly.state import BINS, Array

MAD_TO_SD = 1.2533141373155  # sqrt(pi/2), as in kernel.py

PROFILE = ("p_mean", "p_dev", "p_visits", "p_still", "p_innov", "p_dt")
"""The [series, BINS] state fields of the seasonal profile."""

TRANSPOSE_AFTER = 1.0
"""Bin changes after the first load, in batch sizes, after which the profile is worked on
transposed: once every series has changed bin, so a batch crossing one hour (ingest) keeps
the state's layout."""

Near = tuple[Array, Array, Array, Array]
"""Profile indices (current layout) of a bin, the hour before, the hour after, and the other
day type's hour."""


class BinCache:
    """Current-bin working vectors of a batch's `n` series; `st` is the batch's state rows.
    Bins are local: 0 to BINS - 1 (see `prepare.seasonal_bins`)."""

    def __init__(self, st: dict[str, Array], n: int, cfg: AnomalyConfig) -> None:
        self.pm, self.pd, self.pv, self.pst, self.pin, self.pdt = (
            st[k].reshape(-1) for k in PROFILE
        )
        self.st = st
        self.cfg = cfg
        self.n = n
        self.transposed = False  # the profile fields above are [BINS, n] copies
        self.switched = 0  # bin changes so far, the first loads not counted
        self.cur = np.full(n, -1, dtype=np.int64)  # the cached bin (-1: none yet)
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

    def switch(self, rows: Array, new: Array) -> None:
        """`rows` enter bins `new` (one per row) at this step: write the bin they leave back,
        load the new one, and let a visit that ended teach its bin its routine innovation.

        A visit still collecting innovations (weight > 0) is always of the bin being left:
        its weight restarts at every bin change and every weighted reading is in the bin. At
        the first step of a batch (nothing cached yet) the visit's bin comes from the state.
        """
        if not self.transposed and self.switched >= TRANSPOSE_AFTER * self.n:
            self._transpose()
        old = self.cur[rows]
        vw = self.st["visit_w"][rows]
        cached = old >= 0
        self.switched += int(np.count_nonzero(cached))
        ended = cached & (vw > 0)
        ended_bin = old.copy()
        if not cached.all():
            vbin = self.st["visit_bin"][rows]
            fresh = ~cached & (vbin >= 0) & (new != vbin) & (vw > 0)
            ended |= fresh
            ended_bin = np.where(cached, old, vbin)
        self._write_back(rows[cached], old[cached])
        self._load(rows, new)
        self._close_visits(rows[ended], ended_bin[ended])

    def refresh(self) -> None:
        """Recompute the derived vectors of series whose finished visit changed the profile."""
        if self.dirty is not None:  # (a finished visit changes no mean, spread or visits)
            self._derive_routine(self.dirty, self._near(self.dirty, self.cur[self.dirty]))
            self.dirty = None

    def note_visits(self, bins: Array, visit_w: Array) -> None:
        """End of a chunk (bins [T, S] or [T, 1], innovation weights [T, S] or [T, 1]): the
        state's visit bin is that of the last weighted reading."""
        n = self.n
        if bool((visit_w[-1] > 0).all()):  # the common case: every last reading weighs
            self.st["visit_bin"] = np.broadcast_to(bins[-1], (n,)).copy()
            return
        weighted = np.broadcast_to(visit_w > 0, (visit_w.shape[0], n))
        seen = weighted.any(axis=0)
        last = weighted.shape[0] - 1 - np.argmax(weighted[::-1], axis=0)
        last_bin = np.broadcast_to(bins, (bins.shape[0], n))[last, np.arange(n)]
        self.st["visit_bin"] = np.where(seen, last_bin, self.st["visit_bin"])

    def write_back(self) -> None:
        """End of a batch: every cached bin back into the profile (and a transposed profile
        back into the state)."""
        rows = np.flatnonzero(self.cur >= 0)
        self._write_back(rows, self.cur[rows])
        if self.transposed:
            for name, flat in zip(PROFILE, self._fields(), strict=True):
                series_major(self.st[name], flat.reshape(BINS, self.n))

    def _fields(self) -> tuple[Array, ...]:
        return self.pm, self.pd, self.pv, self.pst, self.pin, self.pdt

    def _transpose(self) -> None:
        """Work on [BINS, n] copies of the profile from now on (see the module's doc)."""
        self.pm, self.pd, self.pv, self.pst, self.pin, self.pdt = (
            time_major(self.st[name], np.float32).reshape(-1) for name in PROFILE
        )
        self.transposed = True

    def _at(self, rows: Array, local: Array) -> Array:
        """Profile index (current layout) of bins `local` of series `rows`."""
        if self.transposed:
            return local * self.n + rows
        return rows * BINS + local

    def _near(self, rows: Array, local: Array) -> Near:
        """Profile indices (current layout) of bins `local` of series `rows` and of their
        neighbours: the hour before, the hour after, the other day type's hour."""
        hour, day = local % 24, local - local % 24
        before, after = day + (hour + 23) % 24, day + (hour + 1) % 24
        return (
            self._at(rows, local),
            self._at(rows, before),
            self._at(rows, after),
            self._at(rows, (local + 24) % BINS),
        )

    def _write_back(self, rows: Array, local: Array) -> None:
        own = self._at(rows, local)
        self.pm[own] = self.mean[rows]
        self.pd[own] = self.dev[rows]
        self.pv[own] = self.visits[rows]
        self.pst[own] = self.still[rows]
        self.pdt[own] = self.still_dt[rows]

    def _load(self, rows: Array, new: Array) -> None:
        self.cur[rows] = new
        near = self._near(rows, new)
        own = near[0]
        self.mean[rows] = self.pm[own]
        self.dev[rows] = self.pd[own]
        self.visits[rows] = self.pv[own]
        self.still[rows] = self.pst[own]
        self.still_dt[rows] = self.pdt[own]
        self._derive(rows, near)

    def _derive(self, rows: Array, near: Near) -> None:
        self._derive_routine(rows, near)
        _, before, after, _ = near
        pv, pm, pd = self.pv, self.pm, self.pd
        for (mean, dev, infl, eps), nb in zip(self.neighbours, (before, after), strict=True):
            v_n = pv[nb]
            infl[rows] = MAD_TO_SD * np.sqrt(1.0 + 1.0 / np.maximum(v_n, 1.0))
            mean[rows] = np.where(v_n >= self.cfg.season_warmup_visits, pm[nb], np.nan)
            dev[rows] = pd[nb]
            eps[rows] = 1e-12 * (np.abs(pm[nb]) + 1.0)
        self.warm_neighbours = [nb for nb in self.neighbours if not np.isnan(nb[0]).all()]

    def _derive_routine(self, rows: Array, near: Near) -> None:
        pin, pv = self.pin, self.pv
        own, before, after, other = near
        best = np.zeros(rows.shape[0])
        np.maximum(best, np.where(pv[before] >= 1.0, pin[before], 0.0), out=best)
        without = np.maximum(best, 0.0)  # the bin's own term is 0 while it is unvisited
        np.maximum(best, pin[own], out=best)
        np.maximum(best, np.where(pv[after] >= 1.0, pin[after], 0.0), out=best)
        np.maximum(without, np.where(pv[after] >= 1.0, pin[after], 0.0), out=without)
        without = np.maximum(without, pin[other] * (pv[other] >= 1.0))
        self.routine_in[rows] = best
        self.routine_out[rows] = without
        self.sq_routine_in[rows] = np.sqrt(best)
        self.sq_routine_out[rows] = np.sqrt(without)

    def _close_visits(self, rows: Array, local: Array) -> None:
        """The visit of bins `local` ended for `rows`: the bin learns its mean square
        innovation, clipped at c^2 times what it knew, so a ramp that recurs every day is
        learnt while a fault within one visit cannot mask itself."""
        if rows.size == 0:
            return
        cfg = self.cfg
        c = cfg.huber_c
        vsq, vw = self.st["visit_sq"], self.st["visit_w"]
        routine = np.where(self.visits[rows] >= 1.0, self.routine_in[rows], self.routine_out[rows])
        w = vw[rows]
        flat = self._at(rows, local)
        old, visits = self.pin[flat], self.pv[flat]
        ms = vsq[rows] / np.maximum(w, 1e-12)
        ms = np.where(visits > w + 1e-9, np.minimum(ms, c * c * np.maximum(old, routine)), ms)
        lr_v = np.minimum(w / np.maximum(np.minimum(visits, cfg.season_memory_visits), 1e-9), 1)
        self.pin[flat] = old + lr_v * (ms - old)
        vsq[rows] *= False
        vw[rows] *= False
        self.dirty = rows if self.dirty is None else np.union1d(self.dirty, rows)
