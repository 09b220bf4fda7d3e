"""`AnomalyProcessor`: scores every batch with the core anomaly engine.

Per batch it scores the good numeric readings of every series at once (`score_flat`,
vectorized), and returns

- one `anomaly_score` row per scored reading (fields `score` 0..1, `detector`),
- one `anomaly_event` row per event opened or closed (tags site, device, point, kind; the
  row's time is the event start, so the close overwrites the open: fields `event_id`,
  `state`, `end` (UTC ns, 0 while open), `peak_score`),
- one `AnomalyEventMessage` per event, published on `Topics.event(site, device)`.

An event keeps the `kind` it opened with, even if another detector peaks later, so that its
open and closed rows are one stored series point. Series are registered from the device
profiles (physical limits from `writable`, counters and their rollover in engineering
units). Engine state is saved to `state_dir/anomaly-state.npz` (plus the open events' kinds
in `anomaly-open.json`) every `save_every_s` and on `close()`, and loaded on start, so a
restarted worker resumes where it stopped. Readings already scored before a crash that were
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

from peakline_core.anomaly import AnomalyConfig, AnomalyEngine, AnomalyError, AnomalyEvent
from peakline_core.config.loader import PlatformConfig
from peakline_core.config.profiles import ModbusProfile
from peakline_core.storage import Row, RowBlock
from peakline_core.storage.schema import ANOMALY_EVENT, ANOMALY_SCORE, QualityCode
from peakline_core.wire import AnomalyEventMessage, Topics, encode
from peakline_ingest.processors import ProcessorOutput, Publication
from peakline_ingest.validate import Accepted

log = structlog.get_logger("peakline.ingest.anomaly")

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

    Limits come from `writable` (min/max, engineering units), counters from `counter`, and a
    counter's `rollover` (raw) is converted to engineering units with the point's scale.
    """
    n = 0
    for device in platform.devices.values():
        if not device.enabled:
            continue
        profile = platform.profile_of(device)
        if not isinstance(profile, ModbusProfile):
            continue
        for p in profile.points:
            limits = p.writable
            rollover = None
            if p.counter and p.rollover is not None:
                rollover = abs(p.rollover * p.scale)
            engine.register_series(
                series_key(device.site, device.id, p.name),
                lower=None if limits is None else limits.min,
                upper=None if limits is None else limits.max,
                counter=p.counter,
                rollover=rollover,
            )
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
        # (series key, start ns) -> kind the event opened with
        self._open_kind: dict[tuple[str, int], str] = {}

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
        processor._load_open_kinds()
        return processor

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
        result = self.engine.score_flat(keys[sidx].tolist(), ts, value[rows])
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
        for event in result.events:
            self._emit(event, out)
        self._maybe_save()
        return out

    def _emit(self, event: AnomalyEvent, out: ProcessorOutput) -> None:
        site, device, point = event.series.split("/", 2)
        ident = (event.series, event.start_ns)
        if event.state == "open":
            kind = self._open_kind.setdefault(ident, event.kind)
        else:
            kind = self._open_kind.pop(ident, event.kind)
        eid = event_id(site, device, point, event.start_ns)
        peak = min(1.0, max(0.0, float(event.peak_score)))
        out.rows.append(
            Row(
                ANOMALY_EVENT,
                {"site": site, "device": device, "point": point, "kind": kind},
                {
                    "event_id": eid,
                    "state": event.state,
                    "end": int(event.end_ns or 0),
                    "peak_score": peak,
                },
                int(event.start_ns),
            )
        )
        message = AnomalyEventMessage(
            event_id=eid,
            site=site,
            device=device,
            point=point,
            kind=kind,
            state=event.state,
            start=int(event.start_ns),
            peak_score=peak,
            end=None if event.end_ns is None else int(event.end_ns),
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
        opened = [[k, s, kind] for (k, s), kind in self._open_kind.items()]
        _atomic_write(self.state_dir / STATE_FILE, self.engine.save())
        _atomic_write(self.state_dir / OPEN_FILE, json.dumps(opened).encode())

    def close(self) -> None:
        """Save on shutdown."""
        self.save()

    def _load_open_kinds(self) -> None:
        if self.state_dir is None or not (self.state_dir / OPEN_FILE).exists():
            return
        try:
            data = json.loads((self.state_dir / OPEN_FILE).read_text())
            self._open_kind = {(str(k), int(s)): str(kind) for k, s, kind in data}
        except (OSError, ValueError, TypeError) as exc:
            log.error("open anomaly kinds unreadable", error=str(exc))


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
