"""The anomaly engine: causal, stateful scoring of many series at once.

Ingest calls `score` (a [series, time] block) or `score_flat` (readings in any order) on every
batch; state per series is carried between calls and survives restarts through
`save`/`load`. Scoring a stream in one call or in any split into batches gives the same
scores and events.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from peakline_core.anomaly import earlyarm, kernel, novelty, refractory, saturation
from peakline_core.anomaly import events as event_mod
from peakline_core.anomaly.bands import Bands, one_step
from peakline_core.anomaly.bincache import BinCache
from peakline_core.anomaly.combine import combine
from peakline_core.anomaly.config import DETECTORS, HARD, NONE, AnomalyConfig
from peakline_core.anomaly.errors import AnomalyError
from peakline_core.anomaly.events import AnomalyEvent
from peakline_core.anomaly.feedback import DismissalSlots, DismissalTable
from peakline_core.anomaly.prepare import (
    NS_PER_S,
    VISIT_S,
    prepare,
    series_major_nonzero,
    shared_timestamps,
)
from peakline_core.anomaly.state import (
    FIELDS,
    NO_TIME,
    Array,
    SeriesState,
    bytes_per_series,
    fresh_field,
)

STATE_FORMAT = 1
CHUNK_READINGS = 1 << 18
"""Readings per internal time chunk (series x columns), sized for the CPU cache."""


@dataclass(frozen=True, slots=True)
class ScoreBatch:
    """Scores of one batch, aligned with its input.

    `score` is float32 in [0, 1] (NaN where there was no usable reading); `detector` holds
    int8 indices into `DETECTORS` ("none" where the score is 0); `events` lists the events
    opened or closed by this batch; `counter_rate` (None when the batch holds no counter) is
    a counter's modelled rate (units/s, since its previous anchor reading) where the reading
    moved its anchor, NaN elsewhere.
    """

    score: Array
    detector: Array
    events: list[AnomalyEvent]
    counter_rate: Array | None = None

    def detector_names(self) -> Array:
        """`detector` as an array of names (str)."""
        return np.asarray(DETECTORS)[self.detector]


@dataclass(frozen=True, slots=True)
class SeriesExpectation:
    """What a series was expected to read, in its model units (a counter: units/s): `low`..
    `high` the range it has held (novelty; None before its first reading); `spike_low`..
    `spike_high` the spike model's one-step band and `season_low`..`season_high` the seasonal
    profile's band for the hour (bands.py: the values scoring under 0.5; None where that model
    does not score yet, or when no reading time was given); physical limits (`lower`/`upper`,
    +-inf when undeclared), and last reading (UTC ns, raw value)."""

    low: float | None
    high: float | None
    lower: float
    upper: float
    counter: bool
    last_ts: int | None
    last_raw: float
    spike_low: float | None = None
    spike_high: float | None = None
    season_low: float | None = None
    season_high: float | None = None

    def range_of(self, kind: str) -> tuple[float | None, float | None]:
        """The expected range an event of detector `kind` was judged against: the spike
        model's band for a spike, the profile's for a seasonal event (both within the physical
        limits, a counter's rate at least 0, and on the side of zero the series has always
        read), the physical limits for a `limit` verdict, else
        the range held so far (None, None when unknown)."""
        band = None
        if kind == "spike" and self.spike_low is not None and self.spike_high is not None:
            band = self.spike_low, self.spike_high
        if kind == "seasonal" and self.season_low is not None and self.season_high is not None:
            band = self.season_low, self.season_high
        if band is not None:  # within the physical limits; a counter's rate is not negative
            lower, upper = (0.0, np.inf) if self.counter else (self.lower, self.upper)
            # nor does a series cross zero where it never has: an office meter that has
            # never exported is not expected to read -80 kW (a band's lower end may be)
            if self.low is not None and self.low >= 0.0:
                lower = max(lower, 0.0)
            if self.high is not None and self.high <= 0.0:
                upper = min(upper, 0.0)
            low, high = max(band[0], lower), min(band[1], upper)
            return band if low > high else (low, high)
        if kind == "limit":
            return self.lower, self.upper
        return self.low, self.high


def _finite(x: float) -> float | None:
    return x if np.isfinite(x) else None


class Expectations:
    """`AnomalyEngine.expectations`: `get(key)` -> `SeriesExpectation` or None."""

    def __init__(
        self, index: dict[str, int], arrays: dict[str, Array], bands: Bands | None = None
    ) -> None:
        self._index = index
        self._a = arrays
        self._bands = bands

    def get(self, key: str) -> SeriesExpectation | None:
        i = self._index.get(key)
        if i is None:
            return None
        a = self._a
        last_ts = int(a["last_ts"][i])
        b = self._bands
        band: list[float | None] = [None] * 4
        if b is not None:
            band = [_finite(float(x[i])) for x in
                    (b.spike_low, b.spike_high, b.season_low, b.season_high)]  # fmt: skip
        return SeriesExpectation(
            low=_finite(float(a["nov_lo"][i])),
            high=_finite(float(a["nov_hi"][i])),
            lower=float(a["lower"][i]),
            upper=float(a["upper"][i]),
            counter=bool(a["counter"][i]),
            last_ts=None if last_ts == NO_TIME else last_ts,
            last_raw=float(a["last_raw"][i]),
            spike_low=band[0],
            spike_high=band[1],
            season_low=band[2],
            season_high=band[3],
        )


class AnomalyEngine:
    """Scores readings of many series; unseen series get fresh state automatically."""

    def __init__(self, config: AnomalyConfig | None = None) -> None:
        self.config = config or AnomalyConfig()
        self._keys: list[str] = []
        self._index: dict[str, int] = {}
        self._state = SeriesState.empty()
        self._poll_s: dict[str, float] = {}
        self._poll_vec: Array | None = None
        self._dismissals = DismissalTable()
        self._dismissal_rows: Array | None = None
        # series with an event in the last batch -> their row in `_replay`: the state before
        # the batch (every field), then the batch's timestamps, values and mask (or None)
        self._replays: dict[str, int] = {}
        empty = np.empty((0, 0))
        self._replay: tuple[dict[str, Array], Array, Array, Array | None] = ({}, empty, empty, None)

    @property
    def keys(self) -> list[str]:
        """Series known to the engine, in registration order."""
        return list(self._keys)

    @staticmethod
    def state_bytes_per_series() -> int:
        """Carried state per series, in bytes."""
        return bytes_per_series()

    def register_series(
        self,
        key: str,
        lower: float | None = None,
        upper: float | None = None,
        counter: bool = False,
        rollover: float | None = None,
        max_rate: float | None = None,
        utc_offset_s: int = 0,
        resolution: float | None = None,
        commanded: bool = False,
    ) -> None:
        """Declare what a series physically is (from its device profile); optional.

        `lower`/`upper` are physical limits in the series' units; `counter` marks a cumulative
        register (energy), `rollover` the raw value it wraps at; `max_rate` is the largest
        possible change in units per second; `utc_offset_s` shifts the seasonal profile to
        local time; `resolution` is the register's step in the series' units (a counter's
        rate is measured over spans long enough for it; learnt from the smallest step seen
        when not given); `commanded` marks a point the platform writes (a setpoint, a mode,
        an enable): its value is an order, not a measurement, so it is judged only by the
        hard checks (limits, rate), never by a statistical detector. Learnt state is kept
        when a known series is registered again.
        """
        if rollover is not None and not counter:
            raise AnomalyError(f"{key}: rollover is only for counters")
        if lower is not None and upper is not None and lower > upper:
            raise AnomalyError(f"{key}: lower {lower} is above upper {upper}")
        if resolution is not None and not resolution > 0:
            raise AnomalyError(f"{key}: resolution {resolution} must be positive")
        row = int(self._rows([key])[0])
        arrays = self._state.arrays
        arrays["lower"][row] = -np.inf if lower is None else lower
        arrays["upper"][row] = np.inf if upper is None else upper
        arrays["counter"][row] = counter
        arrays["rollover"][row] = np.nan if rollover is None else rollover
        arrays["max_rate"][row] = np.inf if max_rate is None else max_rate
        arrays["utc_offset_ns"][row] = int(utc_offset_s) * NS_PER_S
        arrays["resolution"][row] = np.nan if resolution is None else resolution
        arrays["commanded"][row] = commanded

    def set_dismissals(self, table: DismissalTable) -> None:
        """Operator false alarms to honour from now on (replaces the previous table; not part
        of the saved state: ingest rebuilds it from the stored verdicts)."""
        self._dismissals = table
        self._dismissal_rows = None

    def _dismissal_slots(self, rows: Array) -> DismissalSlots | None:
        if not len(self._dismissals):
            return None
        if self._dismissal_rows is None or len(self._dismissal_rows) != len(self._keys):
            self._dismissal_rows = self._dismissals.rows_of(self._keys)
        return self._dismissals.take(self._dismissal_rows[rows])

    def score(
        self,
        keys: Sequence[str],
        ts: Array,
        values: Array,
        valid: Array | None = None,
    ) -> ScoreBatch:
        """Score a [series, time] block: `ts` int64 UTC ns, `values` float64, NaN-padded rows
        allowed (ragged batches), `valid` an optional extra bool mask. Rows need increasing
        timestamps; readings not newer than the series' last one are ignored (NaN score)."""
        ts = np.asarray(ts)
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or ts.shape != values.shape:
            raise AnomalyError(f"ts {ts.shape} and values {values.shape} must be one (S, T) shape")
        if len(keys) != values.shape[0]:
            raise AnomalyError(f"{len(keys)} keys for {values.shape[0]} rows")
        if valid is not None and np.shape(valid) != values.shape:
            raise AnomalyError(f"valid {np.shape(valid)} does not match values {values.shape}")
        if len(set(keys)) != len(keys):
            raise AnomalyError("a series key appears twice in one batch")
        if not np.issubdtype(ts.dtype, np.integer):
            raise AnomalyError(f"ts must be int64 UTC ns, not {ts.dtype}")
        n_s, n_t = values.shape
        if n_s == 0:  # no series: nothing to score (and no replay of the last batch)
            self._replays = {}
            empty = (0, n_t)
            return ScoreBatch(np.zeros(empty, np.float32), np.zeros(empty, np.int8), [], None)
        rows = self._rows(keys)
        st = self._state.take(rows)
        mask = None if valid is None else np.asarray(valid, dtype=bool)
        # zeros (no score, detector "none") come from the allocator; the chunks write the rest
        score = np.zeros((n_s, n_t), np.float32)
        det = np.zeros((n_s, n_t), np.int8)
        found: list[AnomalyEvent] = []
        rate = np.full((n_s, n_t), np.nan) if st["counter"].any() else None
        bins = BinCache(st, n_s, self.config)
        dismissed = self._dismissal_slots(rows)
        stamps = shared_timestamps(ts)  # series read in step: one row of timestamps
        key_list = list(keys)
        # time chunks keep temporaries in cache; carried state makes the split invisible
        step = max(1, CHUNK_READINGS // max(n_s, 1))
        for lo in range(0, n_t, step):
            hi = min(n_t, lo + step)
            part = None if mask is None else mask[:, lo:hi]
            out_rate = None if rate is None else rate[:, lo:hi]
            sc, dt, evs = self._score_chunk(
                st, bins, key_list, stamps[:, lo:hi], values[:, lo:hi], part, out_rate, dismissed
            )
            series_major_nonzero(score[:, lo:hi], sc)
            series_major_nonzero(det[:, lo:hi], dt)
            found.extend(evs)
        bins.write_back()
        self._keep_replays(keys, rows, stamps, values, mask, found)
        self._state.put(rows, st)
        closed = {(e.series, e.start_ns) for e in found if e.state == "closed"}
        found = [e for e in found if e.state == "closed" or (e.series, e.start_ns) not in closed]
        return ScoreBatch(score, det, found, rate)

    def _keep_replays(
        self,
        keys: Sequence[str],
        rows: Array,
        ts: Array,
        values: Array,
        mask: Array | None,
        found: list[AnomalyEvent],
    ) -> None:
        """Keep, for the series with an event in this batch only (rare), their state before
        it and their readings, so `expectation_before` can replay them."""
        self._replays = {}
        if not found:
            return
        a = self._state.arrays  # (not yet written back: the state before the batch)
        where = {k: i for i, k in enumerate(keys)}
        kept = sorted({e.series for e in found})
        at = np.asarray([where[key] for key in kept], dtype=np.int64)
        # one gather per field for all of them (a copy per series and field was 13 % of a
        # steady-state batch of 10,000 series)
        before = {name: arr[rows[at]] for name, arr in a.items()}
        if ts.shape[0] > 1 and ts.strides[0] == 0:  # read in step: one row of timestamps
            kept_ts = np.broadcast_to(ts[0].copy(), (at.size, ts.shape[1]))
        else:
            kept_ts = ts[at]
        self._replay = (before, kept_ts, values[at], None if mask is None else mask[at])
        self._replays = {key: j for j, key in enumerate(kept)}

    def expectation_before(self, key: str, ts_ns: int) -> SeriesExpectation | None:
        """What series `key`, which had an event in the last batch scored, was expected to
        read just before its reading at `ts_ns` (UTC ns): its state before the batch with the
        batch's earlier readings replayed (the same kernel: the state the reading was judged
        by), bands included. None when the series had no event in the last batch."""
        j = self._replays.get(key)
        if j is None:
            return None
        before, all_ts, all_values, all_valid = self._replay
        ts, values = all_ts[j], all_values[j]
        valid = None if all_valid is None else all_valid[j]
        scratch = AnomalyEngine(self.config)
        scratch._keys, scratch._index = [key], {key: 0}
        scratch._state = SeriesState({name: arr[j : j + 1].copy() for name, arr in before.items()})
        earlier = ts < ts_ns
        if valid is not None:
            earlier &= valid
        if earlier.any():
            scratch.score([key], ts[None, earlier], values[None, earlier])
        return scratch.expectations([key], np.asarray([ts_ns], np.int64)).get(key)

    def _score_chunk(
        self,
        st: dict[str, Array],
        bins: BinCache,
        keys: list[str],
        ts: Array,
        values: Array,
        valid: Array | None,
        rate: Array | None,
        dismissed: DismissalSlots | None = None,
    ) -> tuple[Array, Array, list[AnomalyEvent]]:
        cfg = self.config
        prepared = prepare(st, ts, values, valid, cfg)
        if rate is not None:  # the chunk's [S, T] view of the batch's counter rates
            modelled = prepared.model_valid & st["counter"][None, :]
            rate[modelled.T] = prepared.x.T[modelled.T]
        span_before = st["span_s"].copy()
        evidence = kernel.run(st, prepared, cfg, bins)
        nov_lo, nov_hi = st["nov_lo"].copy(), st["nov_hi"].copy()
        novel_z = novelty.run(st, prepared, cfg)
        # a value held at the edge of the series' range is pinned at a limit, not frozen
        edge = saturation.pinned(nov_lo, nov_hi, st["counter"], prepared, evidence.flat_nats)
        if edge is not None:
            evidence.flat_nats.reshape(-1)[edge] = 0.0
        score, det, onset = combine(evidence, prepared, cfg, novel_z)
        if st["commanded"].any():  # an order is judged by the hard checks only
            cmd = np.broadcast_to(st["commanded"], score.shape) & prepared.valid
            score = np.where(cmd, prepared.hard_score, score).astype(np.float32)
            det = np.where(cmd, prepared.hard_det, det).astype(np.int8)
            onset = np.where(cmd, prepared.ts, onset)
        # statistical evidence alerts only once its model has seen a daily cycle; before, a
        # young series' transient excursions do (earlyarm.py)
        may_open = evidence.settled.copy()
        named = np.flatnonzero(det != NONE)  # (few readings name a detector)
        may_open.reshape(-1)[named[np.isin(det.reshape(-1)[named], HARD)]] = True
        tracked, tracked_det = score, det
        if earlyarm.young(st, evidence.settled):
            early = earlyarm.arm(st, prepared, score, det, evidence.settled, span_before, cfg)
            if early is not None:  # a transient excursion's event opens from its start
                tracked, tracked_det, onset = score.copy(), det.copy(), onset.copy()
                at = early.at
                may_open.reshape(-1)[at] = True
                tracked.reshape(-1)[at] = np.maximum(tracked.reshape(-1)[at], early.peak)
                tracked_det.reshape(-1)[at] = early.kind
                onset.reshape(-1)[at] = early.start
        if dismissed is not None:
            # an operator's false alarm: the same pattern neither opens nor keeps an event
            quiet = dismissed.mutes(det, prepared.x, score, prepared.ts)
            may_open &= ~quiet
            tracked = np.where(quiet, np.float32(0), tracked)
        # a repeat within the refractory stretch scores below event_open and opens nothing;
        # the event keeps the uncapped score as its peak (and the detector behind it)
        shown, muted = refractory.mute_repeats(st, score, det, prepared.valid, may_open, cfg)
        events = event_mod.track(
            st,
            keys,
            tracked,
            tracked_det,
            onset,
            prepared.ts,
            prepared.valid,
            may_open if muted is None else may_open & ~muted,
            cfg,
        )
        return shown, det, events

    def score_flat(self, keys_per_reading: Sequence[str], ts: Array, values: Array) -> ScoreBatch:
        """Score readings given as three flat, equally long sequences in any order; `score`
        and `detector` come back in the input order. Readings of one series are scored in
        timestamp order."""
        ts = np.asarray(ts, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        key_arr = np.asarray(keys_per_reading, dtype=str)
        if not (key_arr.shape == ts.shape == values.shape) or ts.ndim != 1:
            raise AnomalyError("keys, ts and values must be flat and equally long")
        if ts.size == 0:
            return ScoreBatch(np.zeros(0, np.float32), np.zeros(0, np.int8), [], None)
        uniq, inv = np.unique(key_arr, return_inverse=True)
        order = np.lexsort((ts, inv))
        row = inv[order]
        counts = np.bincount(inv, minlength=uniq.size)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        col = np.arange(ts.size) - first[row]
        shape = (uniq.size, int(counts.max()))
        ts2 = np.zeros(shape, np.int64)
        val2 = np.full(shape, np.nan)
        ok2 = np.zeros(shape, bool)
        ts2[row, col] = ts[order]
        val2[row, col] = values[order]
        ok2[row, col] = True
        batch = self.score([str(k) for k in uniq], ts2, val2, ok2)
        score = np.empty(ts.size, np.float32)
        det = np.empty(ts.size, np.int8)
        score[order] = batch.score[row, col]
        det[order] = batch.detector[row, col]
        rate = None
        if batch.counter_rate is not None:
            rate = np.empty(ts.size)
            rate[order] = batch.counter_rate[row, col]
        return ScoreBatch(score, det, batch.events, rate)

    def expectations(self, keys: Sequence[str], at_ns: Array | None = None) -> Expectations:
        """What the series `keys` are expected to read before their next readings (a copy of
        the state that says it, gathered in one step; unknown keys are registered). With
        `at_ns` (UTC ns per key: the time of each one's next reading) the spike and seasonal
        bands for that reading too (bands.py)."""
        rows = self._rows(keys)
        a = self._state.arrays
        fields = ("nov_lo", "nov_hi", "lower", "upper", "counter", "last_ts", "last_raw")
        bands = None if at_ns is None else one_step(a, rows, np.asarray(at_ns), self.config)
        return Expectations(dict(zip(keys, range(len(keys)), strict=True)),
                            {f: a[f][rows] for f in fields}, bands)  # fmt: skip

    def commanded(self, keys: Sequence[str]) -> Array:
        """Whether each of `keys` is a point the platform writes (`register_series(...,
        commanded=True)`); False for unknown keys (which are not registered by this)."""
        rows = np.fromiter((self._index.get(k, -1) for k in keys), np.int64, len(keys))
        out: Array = np.zeros(len(keys), bool)
        known = np.flatnonzero(rows >= 0)
        out[known] = self._state.arrays["commanded"][rows[known]]
        return out

    def counters(self, keys: Sequence[str]) -> Array:
        """Whether each of `keys` is a counter (`register_series(..., counter=True)`); False
        for unknown keys (which are not registered by this)."""
        rows = np.fromiter((self._index.get(k, -1) for k in keys), np.int64, len(keys))
        out: Array = np.zeros(len(keys), bool)
        known = np.flatnonzero(rows >= 0)
        out[known] = self._state.arrays["counter"][rows[known]]
        return out

    def expect_every(self, key: str, interval_s: float) -> None:
        """Declare how often a series is read (its poll interval, s), so its missing
        readings are seen from its first reading (`silent`); not part of the saved state."""
        self._poll_s[key] = float(interval_s)
        self._rows([key])
        self._poll_vec = None

    def silent(
        self, now_ns: int, missing: float = 3.0, at_least_s: float = 5.0
    ) -> tuple[list[str], Array]:
        """Series whose expected readings are missing at `now_ns` (UTC ns): no reading for
        more than `missing` intervals (declared by `expect_every`, else learnt from 3 or
        more), more than the learnt interval plus six of its deviations (an irregular
        stream is judged by its own regularity), and more than `at_least_s` (a gateway's
        stall of a second or two under a fast poll is not a device fault). Returns the keys
        and each one's last reading time (UTC ns)."""
        a = self._state.arrays
        last = a["last_ts"]
        learnt = a["n_dt"] >= 3
        poll = self._declared_intervals()
        interval = np.where(np.isfinite(poll), poll, np.where(learnt, a["dt_mean"], np.nan))
        wait_s = np.fmax(missing * interval, np.where(learnt, a["dt_mean"] + 6 * a["dt_dev"], 0))
        wait_s = np.fmax(wait_s, at_least_s)
        known = (last != NO_TIME) & (interval > 0)
        silent_s = (now_ns - np.where(known, last, now_ns)) / NS_PER_S
        rows = np.flatnonzero(known & (silent_s > wait_s))
        return [self._keys[int(r)] for r in rows], last[rows].copy()

    def _declared_intervals(self) -> Array:
        if self._poll_vec is None or len(self._poll_vec) != len(self._keys):
            self._poll_vec = np.fromiter(
                (self._poll_s.get(k, np.nan) for k in self._keys), np.float64, len(self._keys)
            )
        return self._poll_vec

    def open_events(self) -> list[AnomalyEvent]:
        """Events open right now (end_ns None)."""
        a = self._state.arrays
        return [
            AnomalyEvent(
                self._keys[i],
                DETECTORS[int(a["ev_kind"][i])],
                int(a["ev_start"][i]),
                None,
                float(a["ev_peak"][i]),
                "open",
            )
            for i in np.flatnonzero(a["ev_open"])
        ]

    def save(self) -> bytes:
        """All carried state as `.npz` bytes (no pickle), with the config and series keys."""
        buf = io.BytesIO()
        meta = {"format": STATE_FORMAT, "config": self.config.model_dump(mode="json")}
        arrays: dict[str, Array] = {
            "__meta__": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            "__keys__": np.asarray(self._keys, dtype=str),
            **self._state.arrays,
        }
        np.savez_compressed(buf, allow_pickle=False, **arrays)
        return buf.getvalue()

    @classmethod
    def load(cls, data: bytes) -> AnomalyEngine:
        """Rebuild an engine from `save()` output; raises AnomalyError if unreadable."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                meta = json.loads(npz["__meta__"].tobytes().decode())
                if meta.get("format") != STATE_FORMAT:
                    raise AnomalyError(f"unknown anomaly state format {meta.get('format')}")
                engine = cls(AnomalyConfig.model_validate(meta["config"]))
                keys = [str(k) for k in npz["__keys__"]]
                # fields added since the state was written start fresh (additive format)
                arrays = {
                    name: npz[name] if name in npz.files else fresh_field(name, len(keys))
                    for name in FIELDS
                }
                if "span_s" not in npz.files:  # hours of data seen, as far as it can tell
                    arrays["span_s"] = arrays["n"] * np.minimum(arrays["dt_mean"], VISIT_S)
                if "anchor_ts" not in npz.files:  # a counter's next rate spans from its last
                    arrays["anchor_ts"] = np.where(arrays["counter"], arrays["last_ts"], NO_TIME)
                if "p_dt" not in npz.files:  # stillness was learnt per reading: per interval
                    interval = np.minimum(arrays["dt_mean"], VISIT_S).astype(np.float32)
                    visited = arrays["p_visits"] > 0
                    arrays["p_dt"] = np.where(visited, interval[:, None], np.float32(0))
        except (OSError, ValueError, KeyError) as exc:
            raise AnomalyError(f"unreadable anomaly state: {exc}") from exc
        for name, (dtype, bins, _) in FIELDS.items():
            want = (len(keys), bins) if bins else (len(keys),)
            if arrays[name].shape != want or arrays[name].dtype != np.dtype(dtype):
                raise AnomalyError(f"anomaly state field {name} has the wrong shape or type")
        engine._keys = keys
        engine._index = {k: i for i, k in enumerate(keys)}
        engine._state = SeriesState(arrays)
        return engine

    def _rows(self, keys: Sequence[str]) -> Array:
        new = [k for k in dict.fromkeys(keys) if k not in self._index]
        if new:
            start = len(self._keys)
            self._keys.extend(new)
            self._index.update({k: start + i for i, k in enumerate(new)})
            self._state.grow(len(new))
        return np.fromiter((self._index[k] for k in keys), dtype=np.int64, count=len(keys))
