"""The deriver: energy, emissions, roll-ups and anomaly scores from the *stored* readings.

Ingest workers only validate and store; every figure derived from readings is computed here,
in one place that owns the per-series state, from what the store holds:

- A **watermark** advances with the clock, `lateness_s` behind it. Each step reads the good
  readings stored in [previous watermark, watermark) and feeds them to the anomaly scorer;
  when the watermark passes a window boundary, the readings up to it go in time order to
  each energy source's walk (`EnergyTrack`), once per window (a walk costs per call), which
  yields the rows of the windows that closed. A step that fails part-way makes the next one
  re-derive every source from its start (its windows may have been taken, not written).
  Readings stored within the lateness are in order whatever the number of ingest workers
  and however batches were split between them.
- Readings stored **later** than that (an edge spool drained after an outage, a redelivery
  after a worker crash, an import) are marked by ingest in `late_data`. The deriver re-derives
  each marked source from scratch over `context_s` before the earliest late reading up to
  the watermark, and rewrites the windows from `context_s / 2` before it: the same rows an
  uninterrupted run would have written.
- **Roll-ups** (`energy_1h`, `emissions`, then `energy_1d`, `emissions_1d`, then
  `energy_1mo`, `emissions_1mo`) of the hours, days and months a step touched are recomputed
  from the stored rows below them.
- The state (watermark, each track's walk and recent windows) is checkpointed with the
  anomaly engine's every `checkpoint_s`; a restart resumes from the checkpoint and redoes
  the steps after it (writes are idempotent). Without a checkpoint it starts
  `start_lookback_s` back, so the interval across a restart is still counted.

Rows are a deterministic function of the stored readings: the same readings give the same
rows whatever the number of ingest workers, batch boundaries, restarts or redeliveries.
Anomaly scores are causal: readings stored later than the lateness are not scored.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import structlog

from peakline_core.config.loader import PlatformConfig
from peakline_core.derive.calendar import month_floor
from peakline_core.emissions import FactorBook
from peakline_core.storage import Row, SeriesQuery, Store, StoreError
from peakline_core.storage.schema import GRID_DEVICE, IMPORT_DEVICE, LATE_DATA
from peakline_ingest.derive.energy import EnergyTrack
from peakline_ingest.derive.feedback import stored_dismissals
from peakline_ingest.derive.readings import GoodReadings, SeriesKey, good_readings
from peakline_ingest.derive.rollup import DAY, HOUR, Rollups
from peakline_ingest.derive.sources import EnergySource, sources_from_config
from peakline_ingest.metrics import IngestMetrics
from peakline_ingest.processors import Publication
from peakline_ingest.processors_anomaly import AnomalyProcessor

log = structlog.get_logger("peakline.ingest.derive")

NS = 1_000_000_000
STATE_FILE = "derive-state.json"
STATE_FORMAT = 2  # 2: monthly roll-ups exist (a format-1 store gets them rebuilt once)


@dataclass(frozen=True, slots=True)
class DeriveSettings:
    window_s: int = 60
    lateness_s: float = 10.0
    tick_s: float = 2.0
    max_step_s: float = 900.0
    context_s: float = 7200.0
    start_lookback_s: float = 3600.0
    checkpoint_s: float = 30.0
    max_gap_s: float = 900.0
    feedback_s: float = 10.0  # how often operators' verdicts are read again
    feedback_days: float = 400.0  # verdicts on events that started this far back count


class Deriver:
    """`await Deriver(...).run(stop)`, or `await step_to(ns)` under a test's own clock."""

    def __init__(
        self,
        store: Store,
        sources: Sequence[EnergySource],
        regions: dict[str, str],
        book: FactorBook | None,
        settings: DeriveSettings | None = None,
        state_dir: Path | None = None,
        anomaly: AnomalyProcessor | None = None,
        publish: Callable[[Publication], Awaitable[None]] | None = None,
        replacements: dict[tuple[str, str], tuple[tuple[int, float, float], ...]] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        metrics: IngestMetrics | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics or IngestMetrics()
        self.settings = settings or DeriveSettings()
        self.state_dir = state_dir
        self.anomaly = anomaly
        self.publish = publish
        self.clock_ns = clock_ns
        self.rollups = Rollups(store, regions, book)
        s = self.settings
        self.window_ns = int(s.window_s * NS)
        replacements = replacements or {}
        self.tracks = {
            (src.site, src.device, src.point): EnergyTrack(
                src,
                self.window_ns,
                int(s.context_s * NS),
                replacements.get((src.device, src.point), ()),
                s.max_gap_s,
            )
            for src in sources
        }
        self.watermark: int | None = None
        self.marks_until: int | None = None
        self._marks_seen: set[tuple[str, int]] = set()
        self._rebuild_months = False
        self.fed_until: int | None = None
        self._redo_from: int | None = None
        """Set while a step runs; left set by a step that failed, so the next re-derives
        every source from there (the failed step's windows were taken but not written)."""
        """The walks have every reading before this (a window boundary: fed once per window)."""
        self._energy_points = sorted({src.point for src in sources})
        self._saved_at = 0.0
        self._feedback_at: float | None = None
        self.rows_written = 0
        self.rederived = 0

    @classmethod
    def from_config(
        cls,
        store: Store,
        platform: PlatformConfig,
        settings: DeriveSettings | None = None,
        state_dir: Path | None = None,
        anomaly: AnomalyProcessor | None = None,
        publish: Callable[[Publication], Awaitable[None]] | None = None,
        energy: bool = True,
        metrics: IngestMetrics | None = None,
    ) -> Deriver:
        book = platform.factor_book() if platform.factor_sets else None
        regions = {s.id: s.grid_region for s in platform.sites.values()}
        swaps: dict[tuple[str, str], list[tuple[int, float, float]]] = defaultdict(list)
        for d in platform.devices.values():
            for r in d.meter_replacements:
                swaps[(d.id, r.point)].append((int(r.at.timestamp() * NS), r.old_kwh, r.new_kwh))
        replacements = {k: tuple(sorted(v)) for k, v in swaps.items()}
        sources = sources_from_config(platform) if energy else []
        return cls(
            store,
            sources,
            regions,
            book,
            settings,
            state_dir,
            anomaly,
            publish,
            replacements,
            metrics=metrics,
        )

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Step every `tick_s` until `stop`; a store outage is retried on the next tick."""
        self.load()
        while not stop.is_set():
            try:
                await self.step_to(self.clock_ns())
            except StoreError as exc:
                self.metrics.derive_errors.labels("store").inc()
                log.warning("derivation waits for the store", error=str(exc))
            except Exception as exc:  # a bug must not stop ingest: logged, counted, retried
                self.metrics.derive_errors.labels("internal").inc()
                log.exception("derivation step failed", error=repr(exc))
            if self.watermark is not None:
                self.metrics.derive_lag.set((self.clock_ns() - self.watermark) / NS)
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.settings.tick_s)
            except TimeoutError:
                pass
        self.save()

    def start_at(self, watermark_ns: int) -> None:
        """Begin deriving at `watermark_ns` instead of `start_lookback_s` before the first step
        (a backfill, a test); no effect once a watermark exists."""
        if self.watermark is None:
            self.watermark = self.marks_until = self.fed_until = watermark_ns

    async def step_to(self, now_ns: int) -> None:
        """Advance the watermark to `now_ns - lateness` in steps of at most `max_step_s`."""
        s = self.settings
        target = now_ns - int(s.lateness_s * NS)
        if self.watermark is None:
            self.watermark = target - int(s.start_lookback_s * NS)
            self.marks_until = self.watermark
        while self.watermark < target:
            end = min(target, self.watermark + int(s.max_step_s * NS))
            await self._step(self.watermark, end, now_ns)
            self.watermark = end
            if time.monotonic() - self._saved_at >= s.checkpoint_s:
                self.save()

    async def _step(self, start: int, end: int, now_ns: int) -> None:
        late, seen = await self._late_marks(now_ns)
        if self._redo_from is not None:  # a step failed part-way: its walks' rows may be lost
            redo = self._redo_from
            for _, device, _ in self.tracks:
                late[device] = min(late.get(device, redo), redo)
        self._redo_from = min(start, self._redo_from if self._redo_from is not None else start)
        grid_late = {
            d.removeprefix(GRID_DEVICE): since
            for d, since in late.items()
            if d.startswith(GRID_DEVICE)
        }
        imported = any(d.startswith(IMPORT_DEVICE) for d in late)
        late = {
            d: since
            for d, since in late.items()
            if not d.startswith(GRID_DEVICE) and not d.startswith(IMPORT_DEVICE)
        }
        readings = await good_readings(self.store, start, end)
        rows: list[Row] = []
        publications: list[Publication] = []
        if self.anomaly is not None:
            await self._refresh_feedback(now_ns)
            outs = [self.anomaly.process([], readings.block())] if len(readings) else []
            # expected readings missing up to the watermark: a silent device reads nothing
            outs.append(self.anomaly.check_silence(end))
            for out in outs:
                rows.extend(out.rows)
                publications.extend(out.publications)
        energy_rows: list[Row] = []
        fed = self.fed_until if self.fed_until is not None else start
        cut = max(fed, end - end % self.window_ns)
        if cut > fed and self.tracks:  # a window closed: its readings go to the walks at once
            got = await self._energy_readings(readings, fed, start, cut)
            for key, track in self.tracks.items():
                if key[1] not in late and key in got:
                    energy_rows.extend(track.feed(*got[key]))
        for device, since in sorted(late.items()):
            again = await self._rederive(device, since, cut)
            log.info("re-derived late readings", device=device, since_ns=since, until_ns=cut,
                     rows=len(again))  # fmt: skip
            energy_rows.extend(again)
        self.fed_until = cut
        rows.extend(energy_rows)
        await self._write(rows)
        touched_h: dict[str, set[int]] = defaultdict(set)
        for r in energy_rows:
            touched_h[r.tags["site"]].add(r.ts - r.ts % HOUR)
        # A late grid point re-prices the derived hours from its own: every site of its region.
        for region, since in grid_late.items():
            late_hours = range(since - since % HOUR, cut, HOUR)
            for site, where in self.rollups.regions.items():
                if where == region and late_hours:
                    touched_h[site].update(late_hours)
        # An import wrote its `energy` rows itself: the hours of its span are rolled up again.
        for site, lo, hi in await self._import_spans(now_ns) if imported else ():
            touched_h[site].update(range(lo - lo % HOUR, hi, HOUR))
        hourly = await self.rollups.hours(touched_h)
        await self._write(hourly)
        touched_d: dict[str, set[int]] = defaultdict(set)
        for site, hours in touched_h.items():
            touched_d[site].update(h - h % DAY for h in hours)
        await self._write(await self.rollups.days(touched_d))
        touched_m: dict[str, set[int]] = defaultdict(set)
        for site, days in touched_d.items():
            touched_m[site].update(month_floor(d) for d in days)
        if self._rebuild_months:  # a store derived before monthly roll-ups existed
            for site in self.rollups.regions:
                touched_m[site].update(_months_back(end, 13))
        await self._write(await self.rollups.months(touched_m))
        self._rebuild_months = False
        # Only now are the marks acted on: a step that fails (the store away mid-step) reads
        # them again on the next tick instead of losing them.
        self.marks_until = now_ns
        self._marks_seen = seen
        self._redo_from = None
        self.metrics.derive_current.set(now_ns / NS)
        for publication in publications:
            await self._publish(publication)

    async def _energy_readings(
        self, readings: GoodReadings, fed: int, start: int, cut: int
    ) -> dict[SeriesKey, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]:
        """The energy sources' readings in [fed, cut): this step's own read from `start`,
        and before it (at most a window: what the last cut left) read again."""
        earlier = (
            await good_readings(self.store, fed, start, {"point": self._energy_points})
            if fed < start
            else GoodReadings({})
        )
        out = {}
        for key in self.tracks:
            parts = [earlier.series.get(key), readings.series.get(key)]
            ts = [p[0][p[0] < cut] for p in parts if p is not None]
            vs = [p[1][p[0] < cut] for p in parts if p is not None]
            if ts and sum(t.size for t in ts):
                out[key] = (np.concatenate(ts), np.concatenate(vs))
        return out

    async def _rederive(self, device: str, since: int, end: int) -> list[Row]:
        """Walk the device's sources again from `context_s` before `since` up to `end`."""
        context = int(self.settings.context_s * NS)
        emit_from = since - context // 2
        emit_from -= emit_from % self.window_ns
        rows: list[Row] = []
        for (site, dev, point), track in self.tracks.items():
            if dev != device:
                continue
            got = await good_readings(
                self.store,
                since - context,
                end,
                {"site": [site], "device": [dev], "point": [point]},
            )
            track.reset()
            series = got.series.get((site, dev, point))
            if series is None:
                continue
            self.rederived += 1
            self.metrics.derive_rederived.inc()
            rows.extend(r for r in track.feed(*series) if r.ts >= emit_from)
        return rows

    async def _refresh_feedback(self, now_ns: int) -> None:
        """Read operators' false alarms at the first step and every `feedback_s` after."""
        assert self.anomaly is not None
        at = time.monotonic()
        if self._feedback_at is not None and at - self._feedback_at < self.settings.feedback_s:
            return
        since = now_ns - int(self.settings.feedback_days * 86400 * NS)
        self.anomaly.apply_feedback(await stored_dismissals(self.store, since, now_ns + 1))
        self._feedback_at = at

    async def _late_marks(self, now_ns: int) -> tuple[dict[str, int], set[tuple[str, int]]]:
        """Devices with readings stored late since the last step -> their earliest one, and
        the marks seen (committed by `_step` once the re-derivation is written)."""
        if not self.tracks and not self.rollups.regions:
            return {}, self._marks_seen
        margin = 120 * NS  # a mark stamped before our last look but stored after it
        since = (self.marks_until or now_ns) - margin
        answer = await self.store.query(SeriesQuery(LATE_DATA, "from_ns", since, now_ns + 1))
        late: dict[str, int] = {}
        seen: set[tuple[str, int]] = set()
        for s in answer:
            device = s.tags.get("device", "")
            for t, v in zip(s.times, s.values, strict=True):
                key = (f"{device}/{s.tags.get('worker', '')}", int(t))
                seen.add(key)
                if key in self._marks_seen or not isinstance(v, int | float):
                    continue
                late[device] = min(late.get(device, int(v)), int(v))
        return late, {k for k in self._marks_seen | seen if k[1] >= since}

    async def _import_spans(self, now_ns: int) -> list[tuple[str, int, int]]:
        """(site, from_ns, to_ns) of the imports committed since the last step (their marks
        under device `import:<device>`, not yet acted on)."""
        since = (self.marks_until or now_ns) - 120 * NS
        spans: dict[tuple[str, str, int], list[int]] = {}
        for field in ("from_ns", "to_ns"):
            for s in await self.store.query(SeriesQuery(LATE_DATA, field, since, now_ns + 1)):
                device = s.tags.get("device", "")
                if not device.startswith(IMPORT_DEVICE):
                    continue
                for t, v in zip(s.times, s.values, strict=True):
                    key = (f"{device}/{s.tags.get('worker', '')}", int(t))
                    if key not in self._marks_seen and isinstance(v, int | float):
                        spans.setdefault((s.tags.get("site", ""), device, int(t)), []).append(
                            int(v)
                        )
        return [(site, v[0], v[1]) for (site, _, _), v in sorted(spans.items()) if len(v) == 2]

    async def _write(self, rows: list[Row]) -> None:
        if rows:
            await self.store.write(rows)
            self.rows_written += len(rows)
            self.metrics.derive_rows.inc(len(rows))

    async def _publish(self, publication: Publication) -> None:
        if self.publish is None:
            return
        try:
            await self.publish(publication)
        except Exception as exc:  # the broker may be away; events are stored already
            log.warning("event publication failed", topic=publication.topic, error=str(exc))

    # -- checkpoint --------------------------------------------------------------------------

    def save(self) -> None:
        """Checkpoint the watermark, every track and the anomaly engine (atomic files)."""
        self._saved_at = time.monotonic()
        if self.state_dir is None or self.watermark is None:
            return
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = {
            "format": STATE_FORMAT,
            "watermark": self.watermark,
            "marks_until": self.marks_until,
            "fed_until": self.fed_until,
            "tracks": {"/".join(k): t.to_json() for k, t in self.tracks.items()},
        }
        _atomic_write(self.state_dir / STATE_FILE, json.dumps(data).encode())
        if self.anomaly is not None:
            self.anomaly.save()

    def load(self) -> None:
        """Resume from the checkpoint, if there is a readable one."""
        if self.state_dir is None or not (self.state_dir / STATE_FILE).exists():
            return
        try:
            data = json.loads((self.state_dir / STATE_FILE).read_text())
            if data.get("format") not in (1, STATE_FORMAT):
                raise ValueError(f"state format {data.get('format')!r}")
            self._rebuild_months = data.get("format") == 1
            tracks = data["tracks"]
            for key, track in self.tracks.items():
                saved = tracks.get("/".join(key))
                if saved is not None:
                    track.load_json(saved)
            self.watermark = int(data["watermark"])
            self.marks_until = int(data["marks_until"])
            fed = data.get("fed_until")
            self.fed_until = int(fed) if fed is not None else self.watermark
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("derive state unreadable, re-deriving the last hour", error=str(exc))
            for track in self.tracks.values():
                track.reset()
            self.watermark = self.fed_until = None


def _months_back(ns: int, n: int) -> set[int]:
    """The month starts of the `n` calendar months up to the one holding `ns`."""
    out = {month_floor(ns)}
    while len(out) < n:
        out.add(month_floor(min(out) - 1))
    return out


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
