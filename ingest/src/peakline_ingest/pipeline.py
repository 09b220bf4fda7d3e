"""The ingest pipeline between the subscriber and the store: validate, batch, process, write, ack.

Messages arrive one by one from the subscriber (`handle`). Valid ones collect in the open
batch until it holds `batch_readings` readings or is `batch_delay_s` old; a full batch is
handed to a writer task, at most `writes_in_flight` at once. When all writers are busy
(a slow or absent database), `handle` waits, the subscriber stops reading and the broker
stops sending once `max_in_flight` messages are unacknowledged: memory stays bounded.

A message is acknowledged only when its readings were stored or it was dead-lettered.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import structlog

from peakline_core.storage import Row, RowBlock, Store, StoreRejected, StoreUnavailable
from peakline_ingest.acks import AckToken, OrderedAcks
from peakline_ingest.blocks import reading_block
from peakline_ingest.deadletters import DeadLetters
from peakline_ingest.grid import GridSignals
from peakline_ingest.metrics import IngestMetrics
from peakline_ingest.processors import BatchProcessor, ProcessorOutput, Publication
from peakline_ingest.validate import NS, Accepted, Rejected, Validator

if TYPE_CHECKING:
    from peakline_ingest.derive.late import LateMarks

log = structlog.get_logger("peakline.ingest.pipeline")


class BlockStore(Store, Protocol):
    """A Store that also takes columnar blocks (both peakline stores do)."""

    async def write_blocks(self, blocks: Sequence[RowBlock]) -> None: ...


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    batch_readings: int = 10_000
    batch_delay_s: float = 0.2
    writes_in_flight: int = 4
    retry_initial_s: float = 0.25
    retry_max_s: float = 15.0


@dataclass(slots=True)
class _Item:
    accepted: Accepted
    token: AckToken
    topic: str
    payload: bytes


class Pipeline:
    """Owns the open batch and the writer tasks; see the module docstring."""

    def __init__(
        self,
        store: BlockStore,
        validator: Validator,
        dead_letters: DeadLetters,
        acks: OrderedAcks,
        metrics: IngestMetrics,
        policy: BatchPolicy | None = None,
        processors: Sequence[BatchProcessor] = (),
        publish: Callable[[Publication], Awaitable[None]] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        late_marks: LateMarks | None = None,
    ) -> None:
        """`late_marks`: marks late grid points too (telemetry's run among `processors`)."""
        self.store = store
        self.validator = validator
        self.dead_letters = dead_letters
        self.acks = acks
        self.metrics = metrics
        self.policy = policy or BatchPolicy()
        self.processors = list(processors)
        self.publish = publish
        self.clock_ns = clock_ns
        self.late_marks = late_marks
        self._open: list[_Item] = []
        self._open_readings = 0
        self._opened_at = 0.0
        self._slots = asyncio.Semaphore(self.policy.writes_in_flight)
        self._writers: set[asyncio.Task[None]] = set()
        self._closing = False

    # -- intake ------------------------------------------------------------------------------

    async def handle(self, topic: str, payload: bytes, token: AckToken) -> None:
        """Take one message; never raises for bad input (it is dead-lettered)."""
        self.metrics.in_flight.set(self.acks.in_flight)
        try:
            accepted = self.validator.validate(topic, payload, self.clock_ns())
        except Rejected as exc:
            await self._reject(exc.reason, exc.detail, topic, payload, token)
            return
        if not self._open:
            self._opened_at = time.monotonic()
        self._open.append(_Item(accepted, token, topic, payload))
        self._open_readings += len(accepted.points)
        if self._open_readings >= self.policy.batch_readings:
            await self.flush()

    async def handle_grid(
        self, grid: GridSignals, topic: str, payload: bytes, token: AckToken
    ) -> None:
        """One grid-intensity message: its row written at once (a few a region an hour), with
        the store retry, then acknowledged; bad input and store refusals are dead-lettered.
        A point older than the deriver allows is written with its `late_data` mark, so the
        hour it prices is rolled up again. Counted in `grid_points` and `rejects`, not in
        `messages` (telemetry's: a backfill compares it with the batches its gateways
        published)."""
        try:
            row = grid.row(topic, payload, self.clock_ns())
        except Rejected as exc:
            await self._reject(exc.reason, exc.detail, topic, payload, token, telemetry=False)
            return
        mark = self.late_marks.grid(row) if self.late_marks is not None else None
        rows = [row] if mark is None else [row, mark]
        try:
            await self._with_retry(lambda: self.store.write(rows))
        except StoreRejected as exc:
            await self._reject("store_rejected", str(exc), topic, payload, token, telemetry=False)
            return
        self.metrics.grid_points.inc()
        self.acks.done(token)

    async def _reject(
        self,
        reason: str,
        detail: str,
        topic: str,
        payload: bytes,
        token: AckToken,
        *,
        telemetry: bool = True,
    ) -> None:
        if telemetry:
            self.metrics.messages.labels("rejected").inc()
        self.metrics.rejects.labels(reason).inc()
        await self.dead_letters.send(reason, detail, topic, payload, self.clock_ns())
        self.acks.done(token)

    def due(self) -> bool:
        """True when the open batch is older than the batch delay."""
        return bool(self._open) and time.monotonic() - self._opened_at >= self.policy.batch_delay_s

    async def flush(self) -> None:
        """Hand the open batch to a writer; waits while all writers are busy (back-pressure)."""
        if not self._open:
            return
        items, self._open, self._open_readings = self._open, [], 0
        await self._slots.acquire()
        task = asyncio.create_task(self._write_batch(items))
        self._writers.add(task)
        task.add_done_callback(self._writer_done)

    def _writer_done(self, task: asyncio.Task[None]) -> None:
        self._writers.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("writer failed", error=repr(task.exception()))

    async def drain(self, timeout_s: float) -> bool:
        """Flush and wait for every writer (clean shutdown); False when the deadline passed."""
        self._closing = True
        await self.flush()
        if not self._writers:
            return True
        _, pending = await asyncio.wait(set(self._writers), timeout=timeout_s)
        for task in pending:
            task.cancel()
        return not pending

    # -- writing -----------------------------------------------------------------------------

    def _process(self, messages: Sequence[Accepted], block: RowBlock) -> ProcessorOutput:
        out = ProcessorOutput()
        for processor in self.processors:
            try:
                got = processor.process(messages, block)
            except Exception as exc:
                self.metrics.processor_errors.labels(processor.name).inc()
                log.error("processor failed", processor=processor.name, error=repr(exc))
                continue
            out.rows.extend(got.rows)
            out.publications.extend(got.publications)
        return out

    async def _with_retry(self, write: Callable[[], Awaitable[None]]) -> None:
        delay = self.policy.retry_initial_s
        while True:
            try:
                await write()
                return
            except StoreUnavailable as exc:
                self.metrics.write_retries.inc()
                wait = exc.retry_after_s if exc.retry_after_s is not None else delay
                wait = min(self.policy.retry_max_s, wait) * random.uniform(0.8, 1.2)
                log.warning("store unavailable, retrying", error=str(exc), wait_s=round(wait, 2))
                await asyncio.sleep(wait)  # backoff between attempts, not a wait on a condition
                delay = min(self.policy.retry_max_s, delay * 2)

    async def _write_batch(self, items: list[_Item]) -> None:
        messages = [i.accepted for i in items]
        block = reading_block(messages)
        started = time.perf_counter()
        try:
            await self._with_retry(lambda: self.store.write_blocks([block]))
        except StoreRejected as exc:
            if len(items) == 1:
                item = items[0]
                await self._reject("store_rejected", str(exc), item.topic, item.payload, item.token)
                return
            # Find the bad message(s): write each one alone; the good ones are stored.
            for item in items:
                await self._write_batch([item])
            return
        self.metrics.write_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_readings.observe(len(block))
        # After the write, not before: a late mark must be judged by when the readings became
        # readable, or a write slower than half the deriver's lateness hides them from it.
        extra = self._process(messages, block)
        await self._write_extra(extra.rows)
        for publication in extra.publications:
            await self._publish(publication)
        now = self.clock_ns()
        for item in items:
            batch = item.accepted.batch
            self.validator.window.commit(batch.agent, batch.seq)
            self.metrics.lag_seconds.observe(max(0.0, (now - batch.sent) / NS))
            self.acks.done(item.token)
        self.metrics.messages.labels("stored").inc(len(items))
        self.metrics.readings.inc(len(block))
        self.metrics.in_flight.set(self.acks.in_flight)

    async def _write_extra(self, rows: list[Row]) -> None:
        if not rows:
            return
        try:
            await self._with_retry(lambda: self.store.write(rows))
        except StoreRejected as exc:
            self.metrics.processor_errors.labels("store").inc()
            log.error("derived rows rejected by the store", error=str(exc), rows=len(rows))

    async def _publish(self, publication: Publication) -> None:
        if self.publish is None:
            return
        try:
            await self.publish(publication)
        except Exception as exc:
            self.metrics.processor_errors.labels("publish").inc()
            log.warning("publication failed", topic=publication.topic, error=str(exc))
