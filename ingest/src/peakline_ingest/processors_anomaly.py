"""`AnomalyProcessor`: scores every batch with the core anomaly engine.

Per batch it scores the good numeric readings of every series at once (`score_flat`,
vectorized), and returns

- one `anomaly_score` row per scored reading (fields `score` 0..1, `detector`),
- one `anomaly_event` row per device incident opened, joined or closed (the
  series' events of one device fold into one incident, `IncidentBook`). Tags site, device,
  point (the lead: the first point to open it), kind; the row's time is the incident start,
  so every update overwrites the same stored point: fields `event_id`, `state`, `end` (UTC
  ns, 0 while open), `peak_score`, `points` (the points involved, comma-separated) and, when
  known, `expected_low`/`expected_high` (what the lead's model expected before: the spike
  model's one-step band for a spike, the hour's profile band for a seasonal event, the
  physical limits for a `limit` verdict, else the range it has held) and `seen` (what it read
  at its peak); a counter's are its rate per hour (kWh -> kW); `cause_ns` (0: none) and,
  when a command explains the incident, `cause_point`, `cause_from`, `cause_to`,
- one `AnomalyEventMessage` per incident update, published on `Topics.event(site, device)`.

An incident keeps the `kind` it opened with, even if another detector peaks later.

Commands (issue 18): the readings of the device's writable points (a setpoint, a mode, an
enable: registered `commanded`) go to a `CommandTrail` first, so a change of value in a
batch is known before the batch's incidents are folded; an incident of statistical
detectors starting within `command_settle_s` (AnomalyConfig, 1,800 s) after a change on the
same device is stored with that cause (`cause_*`) and raises no alert (the API's alert rules
skip it). The trail's last values and changes are saved with the open incidents.
`check_silence(now_ns)` (called by the deriver at each step) opens a `gap` event on each
series whose expected readings are missing (`AnomalyEngine.silent`): a device that stops
answering reads nothing, so there is no reading to score; the event closes at the series'
next reading. Counters in kWh/Wh/MWh are declared with the most their site can draw
(`Site.demand_cap_kw()`) as `max_rate`: a step implying more power is a `rate` verdict.

Operators' false alarms (`apply_feedback`, read from the store by the deriver) keep the same
pattern on a series from raising events again (`peakline_core.anomaly.feedback`).

Series are registered from the device profiles (physical limits from `writable`, counters
and their rollover in engineering units). Engine state is saved to
`state_dir/anomaly-state.npz` (plus the open incidents in `anomaly-open.json`) every
`save_every_s` and on `close()`, and loaded on start, so a restarted worker resumes where it
stopped. Readings already scored before a crash that were
not stored are redelivered and then ignored by the engine (not newer than its state).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import structlog

from peakline_core.anomaly import (
    AnomalyConfig,
    AnomalyEngine,
    AnomalyError,
    AnomalyEvent,
    Incident,
    IncidentBook,
    SeriesExpectation,
)
from peakline_core.anomaly.commands import CommandTrail
from peakline_core.anomaly.config import DETECTORS
from peakline_core.anomaly.config import HARD as HARD_DETECTORS
from peakline_core.anomaly.feedback import Dismissal, DismissalTable
from peakline_core.config.loader import PlatformConfig
from peakline_core.config.profiles import DataType, ModbusProfile
from peakline_core.storage import Row, RowBlock
from peakline_core.storage.schema import ANOMALY_EVENT, ANOMALY_SCORE, QualityCode
from peakline_core.storage.store import FieldValue
from peakline_core.wire import AnomalyEventMessage, Topics, encode
from peakline_ingest.processors import ProcessorOutput, Publication
from peakline_ingest.validate import Accepted

log = structlog.get_logger("peakline.ingest.anomaly")

_KWH_PER_UNIT = {"kwh": 1.0, "wh": 1e-3, "mwh": 1e3}
_INTEGER = {DataType.INT16, DataType.UINT16, DataType.INT32, DataType.UINT32, DataType.INT64,
            DataType.UINT64}  # fmt: skip
_HARD_KINDS = {DETECTORS[d] for d in HARD_DETECTORS}
STATE_FILE = "anomaly-state.npz"
OPEN_FILE = "anomaly-open.json"


def series_key(site: str, device: str, point: str) -> str:
    """The engine's key of one reading series (ids never contain '/')."""
    return f"{site}/{device}/{point}"


def event_id(site: str, device: str, point: str, start_ns: int) -> str:
    """Deterministic event id: a re-scored batch names the same event the same way."""
    digest = hashlib.blake2b(f"{site}/{device}/{point}/{start_ns}".encode(), digest_size=8)
    return f"ev-{digest.hexdigest()}"


def register_profiles(engine: AnomalyEngine, platform: PlatformConfig) -> int:
    """Declare every Modbus point of every enabled device to the engine; returns how many.

    Limits come from `range`, else `writable` (min/max, engineering units), counters from
    `counter`, and a counter's `rollover` (raw) is converted to engineering units with the
    point's scale. An
    energy counter's `max_rate` (units/s) is the most its site can draw, and every point is
    expected every `interval_s` (the point's, else the device's poll interval). An integer
    register's `resolution` is its scale (a 0.1 kWh counter read every 10 s moves by 0 or one
    step per reading; the engine measures its rate over spans long enough for it).
    """
    n = 0
    for device in platform.devices.values():
        if not device.enabled:
            continue
        profile = platform.profile_of(device)
        if not isinstance(profile, ModbusProfile):
            continue
        site = platform.sites.get(device.site)
        cap_kw = None if site is None else site.demand_cap_kw()
        for p in profile.points:
            kwh = _KWH_PER_UNIT.get(p.unit.lower()) if p.counter else None
            max_rate = None if kwh is None or cap_kw is None else cap_kw / 3600.0 / kwh
            limits = p.range or p.writable
            rollover = None
            if p.counter and p.rollover is not None:
                rollover = abs(p.rollover * p.scale)
            key = series_key(device.site, device.id, p.name)
            fixed = p.dtype in _INTEGER and p.scale_factor is None and p.scale != 0
            engine.register_series(
                key,
                lower=None if limits is None else limits.min,
                upper=None if limits is None else limits.max,
                counter=p.counter,
                rollover=rollover,
                max_rate=max_rate,
                resolution=abs(p.scale) if fixed else None,
                commanded=p.writable is not None,
            )
            engine.expect_every(key, p.interval_s or device.poll_interval_s)
            n += 1
    return n


class AnomalyProcessor:
    """Scores readings, stores scores and events, publishes events; see the module doc."""

    name = "anomaly"

    def __init__(
        self,
        topics: Topics,
        engine: AnomalyEngine | None = None,
        state_dir: Path | None = None,
        save_every_s: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topics = topics
        self.engine = engine or AnomalyEngine()
        self.state_dir = state_dir
        self.save_every_s = save_every_s
        self._monotonic = monotonic
        self._saved_at = monotonic()
        self.incidents = IncidentBook()
        self.commands = CommandTrail(self.engine.config.command_settle_s)
        # series whose readings are missing -> when its gap started (its last reading, ns)
        self._silent: dict[str, int] = {}
        self._dismissed_series = 0

    @classmethod
    def restore(
        cls,
        topics: Topics,
        state_dir: Path,
        platform: PlatformConfig | None = None,
        config: AnomalyConfig | None = None,
        save_every_s: float = 60.0,
    ) -> AnomalyProcessor:
        """A processor resuming from `state_dir` if it holds saved state (else fresh), with
        the platform's series registered (learnt state is kept)."""
        engine = None
        path = state_dir / STATE_FILE
        if path.exists():
            try:
                engine = AnomalyEngine.load(path.read_bytes())
                log.info("anomaly state restored", series=len(engine.keys), path=str(path))
            except AnomalyError as exc:
                log.error("anomaly state unreadable, starting fresh", error=str(exc))
        engine = engine or AnomalyEngine(config)
        if platform is not None:
            register_profiles(engine, platform)
        processor = cls(topics, engine, state_dir, save_every_s)
        processor._load_open()
        return processor

    def apply_feedback(self, dismissals: Sequence[Dismissal]) -> None:
        """Honour operators' false alarms (all of them, as stored: replaces the last set)."""
        table = DismissalTable(dismissals)
        if len(table) != self._dismissed_series:
            log.info("anomaly false alarms applied", series=len(table), verdicts=len(dismissals))
        self._dismissed_series = len(table)
        self.engine.set_dismissals(table)

    # -- scoring -----------------------------------------------------------------------------

    def process(self, messages: Sequence[Accepted], block: RowBlock) -> ProcessorOutput:
        value = np.asarray(block.fields["value"], dtype=np.float64)
        quality = np.asarray(block.fields["quality"])
        ok = np.isfinite(value) & (quality == int(QualityCode.GOOD))
        out = ProcessorOutput()
        if not ok.any():
            return out
        tags = list(block.series)
        keys = np.asarray(
            [series_key(t["site"], t["device"], t["point"]) for t in tags], dtype=object
        )
        rows = np.flatnonzero(ok)
        sidx = block.series_index[rows]
        ts = block.ts[rows]
        batch_keys = keys[sidx]
        events = self._returned(batch_keys, ts)
        # commands first: a setpoint read at 06:00:00 explains the power's fall read at
        # 06:00:10 of the same batch
        commanded = self.engine.commanded(keys.tolist())
        changes = []
        if commanded.any():
            cmd = commanded[sidx]
            changes = self.commands.note(batch_keys[cmd].tolist(), ts[cmd], value[rows][cmd])
        result = self.engine.score_flat(batch_keys.tolist(), ts, value[rows])
        names = result.detector_names()
        scored = np.flatnonzero(np.isfinite(result.score))
        score_list = result.score[scored].astype(np.float64).tolist()
        out.rows.extend(
            Row(ANOMALY_SCORE, tags[s], {"score": sc, "detector": str(d)}, t)
            for s, sc, d, t in zip(
                sidx[scored].tolist(),
                score_list,
                names[scored].tolist(),
                ts[scored].tolist(),
                strict=True,
            )
        )
        events.extend(result.events)
        # a device's fault is still going on while its incident's members read hard verdicts
        # (a statistical score can stay raised for hours after a change of regime)
        hard = np.isin(result.detector, HARD_DETECTORS)
        hot = np.flatnonzero(hard & (result.score >= self.engine.config.event_close))
        if hot.size:
            latest: dict[str, int] = {}
            for k, t in zip(batch_keys[hot].tolist(), ts[hot].tolist(), strict=True):
                latest[k] = max(t, latest.get(k, t))
            self.incidents.heat(latest)
        for inc, _ in self.incidents.fold(self._lead_first(events), self.commands.cause):
            lead = f"{inc.group}/{inc.lead}"
            ev = next((e for e in events if e.series == lead), None)
            if inc.seen is None and ev is not None:
                before = self.engine.expectation_before(lead, ev.start_ns)
                self._fill_expectation(inc, ev, before, batch_keys, ts,
                                       value[rows], result.score,
                                       result.counter_rate)  # fmt: skip
                for live in self.incidents.open.get(inc.group, []):
                    if live.start_ns == inc.start_ns:
                        live.expected_low, live.expected_high = inc.expected_low, inc.expected_high
                        live.seen = inc.seen
            self._emit(inc, out)
        if changes:  # an incident folded before the change it follows (the same poll)
            for inc in self.incidents.explain({g for g, _ in changes}, self.commands.cause):
                self._emit(inc, out)
        self._maybe_save()
        return out

    def _lead_first(self, events: list[AnomalyEvent]) -> list[AnomalyEvent]:
        """The events in the order that makes the best lead first among those of one poll
        (`fold` keeps this order for equal starts; the first to open an incident leads it
        and explains it on the page): a hard verdict before a statistical one, a measured
        value before a counter (whose glitch reads as an implied power of hundreds of MW),
        then by key. It depends only on the events, so any batching gives the same lead."""
        counters = self.engine.counters([e.series for e in events]).tolist()
        order = sorted(
            range(len(events)),
            key=lambda i: (events[i].kind not in _HARD_KINDS, counters[i], events[i].series),
        )
        return [events[i] for i in order]

    def check_silence(self, now_ns: int) -> ProcessorOutput:
        """Open a `gap` event on every series whose expected readings are missing at
        `now_ns` (the deriver's watermark); it closes at the series' next reading."""
        out = ProcessorOutput()
        keys, last = self.engine.silent(now_ns)
        events = []
        for key, start in zip(keys, last.tolist(), strict=True):
            if key not in self._silent:
                self._silent[key] = start
                events.append(AnomalyEvent(key, "gap", start, None, 1.0, "open"))
        self.fold(events, out)
        return out

    def fold(self, events: list[AnomalyEvent], out: ProcessorOutput) -> None:
        """Fold per-series events into device incidents and emit each incident touched."""
        for inc, _ in self.incidents.fold(events, self.commands.cause):
            self._emit(inc, out)

    def _returned(self, batch_keys: np.ndarray, ts: np.ndarray) -> list[AnomalyEvent]:
        """Close the gap events of silent series that read again in this batch."""
        events: list[AnomalyEvent] = []
        if not self._silent:
            return events
        present = set(batch_keys.tolist())
        for key in [k for k in self._silent if k in present]:
            start = self._silent.pop(key)
            back = int(ts[batch_keys == key].min())
            events.append(AnomalyEvent(key, "gap", start, back, 1.0, "closed"))
        return events

    def _fill_expectation(
        self,
        inc: Incident,
        ev: AnomalyEvent,
        before: SeriesExpectation | None,
        batch_keys: np.ndarray,
        ts: np.ndarray,
        value: np.ndarray,
        score: np.ndarray,
        counter_rate: np.ndarray | None = None,
    ) -> None:
        """Set the incident's expected range and seen value from its lead's peak reading in
        this batch (a counter's as its rate per hour: the engine's modelled rate where the
        reading had one, else since the previous reading); leaves them None when unknown. The
        range is the one the event's detector judged by (`SeriesExpectation.range_of`), as the
        model stood just before the event's first reading (`expectation_before`: the same
        whatever the batch split; before the batch when the event started in an earlier one,
        e.g. a young series' excursion that opened its event on its return)."""
        if before is None:
            return
        if ev.kind == "gap":
            inc.seen = None
            return
        at = np.flatnonzero((batch_keys == ev.series) & (ts >= ev.start_ns))
        if at.size == 0:
            return
        peak = int(at[np.argmax(np.nan_to_num(score[at], nan=-1.0))])
        seen = float(value[peak])
        # a statistical verdict judged the modelled rate; a hard one the step itself
        modelled = np.nan
        if counter_rate is not None and ev.kind not in _HARD_KINDS:
            modelled = float(counter_rate[peak])
        if before.counter and np.isfinite(modelled):
            seen = modelled * 3600.0
            per_h = 3600.0
        elif before.counter:
            mine = np.flatnonzero(batch_keys == ev.series)
            earlier = mine[ts[mine] < ts[peak]]
            if earlier.size:
                prev = int(earlier[np.argmax(ts[earlier])])
                prev_ts, prev_v = int(ts[prev]), float(value[prev])
            elif before.last_ts is not None:
                prev_ts, prev_v = before.last_ts, before.last_raw
            else:
                return
            seen = (seen - prev_v) / ((int(ts[peak]) - prev_ts) / 1e9) * 3600.0
            per_h = 3600.0
        else:
            per_h = 1.0
        low, high = before.range_of(ev.kind)
        if ev.kind != "limit":  # physical limits are of the raw value
            low = None if low is None else low * per_h
            high = None if high is None else high * per_h
        inc.expected_low, inc.expected_high, inc.seen = low, high, seen

    def _emit(self, inc: Incident, out: ProcessorOutput) -> None:
        site, device = inc.group.split("/", 1)
        eid = event_id(site, device, inc.lead, inc.start_ns)
        peak = min(1.0, max(0.0, inc.peak_score))
        fields: dict[str, FieldValue] = {
            "event_id": eid,
            "state": inc.state,
            "end": int(inc.end_ns or 0) if inc.state == "closed" else 0,
            "peak_score": peak,
            "points": ",".join(inc.points),
            # always written: an explanation taken away must not linger in the stored row
            "cause_ns": 0 if inc.cause is None else int(inc.cause.ts_ns),
        }
        extra = {"expected_low": inc.expected_low, "expected_high": inc.expected_high,
                 "seen": inc.seen}  # fmt: skip
        if inc.cause is not None:
            extra.update(cause_from=inc.cause.before, cause_to=inc.cause.after)
            fields["cause_point"] = inc.cause.point
        finite = {k: float(v) for k, v in extra.items() if v is not None and np.isfinite(v)}
        fields.update(finite)
        out.rows.append(
            Row(
                ANOMALY_EVENT,
                {"site": site, "device": device, "point": inc.lead, "kind": inc.kind},
                fields,
                int(inc.start_ns),
            )
        )
        message = AnomalyEventMessage(
            event_id=eid,
            site=site,
            device=device,
            point=inc.lead,
            kind=inc.kind,
            state=inc.state,
            start=int(inc.start_ns),
            peak_score=peak,
            end=int(inc.end_ns) if inc.state == "closed" and inc.end_ns is not None else None,
            points=list(inc.points),
            expected_low=finite.get("expected_low"),
            expected_high=finite.get("expected_high"),
            seen=finite.get("seen"),
            cause_point=None if inc.cause is None else inc.cause.point,
            cause_from=finite.get("cause_from"),
            cause_to=finite.get("cause_to"),
            cause_at=None if inc.cause is None else int(inc.cause.ts_ns),
        )
        out.publications.append(Publication(self.topics.event(site, device), encode(message)))

    # -- persistence -------------------------------------------------------------------------

    def _maybe_save(self) -> None:
        if self.state_dir is None:
            return
        if self._monotonic() - self._saved_at >= self.save_every_s:
            self.save()

    def save(self) -> None:
        """Write the engine state and open events' kinds atomically (no-op without a dir)."""
        self._saved_at = self._monotonic()
        if self.state_dir is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        opened = {"incidents": self.incidents.to_json(), "silent": self._silent,
                  "commands": self.commands.to_json()}  # fmt: skip
        _atomic_write(self.state_dir / STATE_FILE, self.engine.save())
        _atomic_write(self.state_dir / OPEN_FILE, json.dumps(opened).encode())

    def close(self) -> None:
        """Save on shutdown."""
        self.save()

    def _load_open(self) -> None:
        """Open incidents and silent series; a file of the older format (open events' kinds
        per series) becomes one incident per event."""
        if self.state_dir is None or not (self.state_dir / OPEN_FILE).exists():
            return
        try:
            data = json.loads((self.state_dir / OPEN_FILE).read_text())
            if isinstance(data, list):
                self.incidents.fold(
                    AnomalyEvent(str(k), str(kind), int(s), None, 0.0, "open")
                    for k, s, kind in data
                )
            else:
                self.incidents = IncidentBook.from_json(data["incidents"])
                self._silent = {str(k): int(v) for k, v in data["silent"].items()}
                self.commands = CommandTrail.from_json(
                    data.get("commands", {}), self.engine.config.command_settle_s
                )
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.error("open anomaly incidents unreadable", error=str(exc))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
