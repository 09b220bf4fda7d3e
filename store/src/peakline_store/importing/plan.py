"""Plan an import against the store (the dry run), and commit it, a chunk at a time.

A file is read, parsed, compared with the store and written in chunks of rows
(`files.CHUNK_ROWS`), so a file of any length imports in bounded memory. Each chunk's rows
are compared with what the store holds for the same device and flow over the chunk's span;
the chunks' spans tile the file's span (each starts where the previous one ended), so a
chunked plan counts exactly what a plan of the whole file would:

- `new`: no stored row at that time; `changed`: a stored imported row with other values
  (a corrected file); `relabelled`: the same values from another file (rewritten so each
  row names the file that last gave it); `unchanged`: the same row (same key, same
  fields), never rewritten;
- `cleared`: stored imported rows inside the span that the file no longer has (a corrected
  file that drops a row): they are rewritten with 0 kWh and 0 s covered, so the span's sums
  are the file's;
- `live`: stored rows that the deriver made from live readings: a plan overlapping them is
  refused (the roll-ups would count the span twice).

Committing writes `new + changed + relabelled + cleared` only, so re-importing a file
writes nothing: `written == 0` is the proof, and the `import_ledger` row (the file's
SHA-256, rows, span, total, written) records each commit. A commit that wrote rows also
writes a `late_data` mark under device `import:<device>`, on which the deriver rolls up
the span's hours, days and months again (docs/import.md).

`import_file` is the streamed path (the CLI, the API, the benchmark): a commit reads the
file twice, first to check that no chunk overlaps live energy (so a refused file writes
nothing), then to write. `plan_import` and `commit` plan a small file held in memory and
keep the plan's rows (tests, the demo).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from peakline_core.importing import (
    BillSpec,
    ImportedRow,
    IntervalParser,
    IntervalSpec,
    ParseResult,
    energy_rows,
    parse_bills,
)
from peakline_core.importing.result import IMPORTED
from peakline_core.storage import Row, SeriesQuery, Store
from peakline_core.storage.schema import ENERGY, IMPORT_DEVICE, IMPORT_LEDGER, LATE_DATA
from peakline_core.storage.store import FieldValue
from peakline_store.errors import StorePackageError
from peakline_store.importing.files import CHUNK_ROWS, Rows, Table, open_table

NS = 1_000_000_000
COMPARED = ("kwh", "estimated_kwh", "covered_s", "quality", "source")
WORKER = "import"
READ_SPAN_NS = 31 * 86400 * NS
WRITE_ROWS = 5000
Phase = Literal["check", "plan", "write"]
Progress = Callable[[Phase, int, int], None]
"""Called after each chunk with the phase, the bytes (CSV) or rows (Excel) read so far, and
the file's size in the same unit."""


class ImportRefused(StorePackageError):
    """A plan that must not be committed (it overlaps live data, or has no valid row)."""


@dataclass(slots=True)
class ImportPlan:
    """What a file gives and how it compares with the store. The counts are always kept;
    the rows themselves (`new`, `changed`, ...) only by `plan_import` (a small file)."""

    kind: Literal["interval", "bills"]
    file: str
    sha256: str
    site: str
    device: str
    flow: str
    result: ParseResult
    new: list[Row] = field(default_factory=list)
    changed: list[Row] = field(default_factory=list)
    cleared: list[Row] = field(default_factory=list)
    relabelled: list[Row] = field(default_factory=list)
    n_new: int = 0
    n_changed: int = 0
    n_cleared: int = 0
    n_relabelled: int = 0
    unchanged: int = 0
    live: int = 0
    written: int = 0
    committed_before: list[int] = field(default_factory=list)
    bills: int | None = None
    cost: float | None = None
    """Bills only: how many were valid, and the sum of their costs (reported, not stored)."""

    @property
    def to_write(self) -> list[Row]:
        return [*self.new, *self.changed, *self.relabelled, *self.cleared]

    @property
    def n_to_write(self) -> int:
        return self.n_new + self.n_changed + self.n_relabelled + self.n_cleared

    def summary(self) -> dict[str, Any]:
        """What the dry run reports (JSON-able)."""
        span = self.result.span
        return {
            "kind": self.kind,
            "file": self.file,
            "sha256": self.sha256,
            "site": self.site,
            "device": self.device,
            "flow": self.flow,
            "unit": self.result.unit,
            "stored_unit": self.result.stored_unit,
            "interval_s": self.result.interval_s,
            "rows": self.result.count,
            "span": None if span is None else {"from_ns": span[0], "to_ns": span[1]},
            "total": self.result.total,
            "new": self.n_new,
            "changed": self.n_changed,
            "cleared": self.n_cleared,
            "relabelled": self.n_relabelled,
            "unchanged": self.unchanged,
            "live_overlap": self.live,
            "committed_before_ns": self.committed_before,
            "bills": self.bills,
            "cost": self.cost,
            "errors": [
                {"line": e.line, "column": e.column, "expected": e.expected, "got": e.got}
                for e in self.result.errors
            ],
            "notes": self.result.notes,
        }


async def import_file(
    store: Store,
    kind: Literal["interval", "bills"],
    file: str,
    source: Path | bytes,
    site: str,
    device: str,
    flow: str,
    spec: IntervalSpec | BillSpec,
    *,
    write: bool = False,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
    clock_ns: Callable[[], int] = time.time_ns,
) -> ImportPlan:
    """Plan the file `file` (read from `source`, a path or its bytes) against the store a
    chunk at a time: the dry run. With `write`, commit it: a first pass refuses a file
    overlapping live energy or holding no valid row (`ImportRefused`, nothing written), a
    second writes each chunk's new, changed, relabelled and cleared rows, then the ledger
    row and the deriver's mark; the plan returned counts what was written (`written`)."""
    sha = await asyncio.to_thread(_sha256, source)
    args = (store, kind, file, source, sha, site, device, flow, spec, chunk_rows, progress)
    if not write:
        return await _pass(*args, "plan", keep=False)
    check = await _pass(*args, "check", keep=False)
    _refuse(check)
    plan = await _pass(*args, "write", keep=False)
    await _record(store, plan, plan.written, clock_ns())
    return plan


async def plan_import(
    store: Store,
    kind: Literal["interval", "bills"],
    file: str,
    data: bytes,
    site: str,
    device: str,
    flow: str,
    spec: IntervalSpec | BillSpec,
) -> ImportPlan:
    """Parse `data` (the file `file`) and compare its rows with the store, keeping the rows
    to write (for `commit`): the dry run of a small file."""
    sha = hashlib.sha256(data).hexdigest()
    args = (store, kind, file, data, sha, site, device, flow, spec, CHUNK_ROWS, None)
    return await _pass(*args, "plan", keep=True)


async def commit(
    store: Store,
    plan: ImportPlan,
    progress: Callable[[int], None] | None = None,
    chunk: int = WRITE_ROWS,
    clock_ns: Callable[[], int] = time.time_ns,
) -> int:
    """Write a `plan_import` plan's new, changed and cleared rows, the ledger row and the
    deriver's mark; returns the number of `energy` rows written (0 for a file already
    imported)."""
    _refuse(plan)
    rows = plan.to_write
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        await store.write(part)
        if progress is not None:
            progress(len(part))
    await _record(store, plan, len(rows), clock_ns())
    return len(rows)


def _refuse(plan: ImportPlan) -> None:
    if plan.live:
        raise ImportRefused(
            f"{plan.file}: {plan.live} intervals of the span already hold "
            f"energy derived from live readings of {plan.device}; import only "
            "the history before them"
        )
    if not plan.result.count:
        raise ImportRefused(f"{plan.file}: no valid row to import")


async def _record(store: Store, plan: ImportPlan, written: int, now: int) -> None:
    """The ledger row, and the deriver's mark when rows were written or when this file has no
    ledger row yet: an import stopped after its rows but before its ledger row (a crash, a
    killed CLI) writes nothing when run again, and must still have its span rolled up."""
    span = plan.result.span
    assert span is not None
    lo, hi = span  # the chunks' spans tile it: every cleared row lies inside
    tags = {"site": plan.site, "device": plan.device, "flow": plan.flow}
    done = [
        Row(
            IMPORT_LEDGER,
            tags,
            {
                "file": plan.file,
                "sha256": plan.sha256,
                "kind": plan.kind,
                "rows": plan.result.count,
                "written": written,
                "from_ns": lo,
                "to_ns": hi,
                "total": plan.result.total,
            },
            now,
        )
    ]
    if written or not plan.committed_before:
        mark = {"site": plan.site, "device": IMPORT_DEVICE + plan.device, "worker": WORKER}
        done.append(Row(LATE_DATA, mark, {"from_ns": lo, "to_ns": hi}, now))
    await store.write(done)


async def _pass(
    store: Store,
    kind: Literal["interval", "bills"],
    file: str,
    source: Path | bytes,
    sha: str,
    site: str,
    device: str,
    flow: str,
    spec: IntervalSpec | BillSpec,
    chunk_rows: int,
    progress: Progress | None,
    phase: Phase,
    keep: bool,
) -> ImportPlan:
    """One read of the file: parse, compare (and write, in phase "write") chunk by chunk.
    Reading and parsing run in a worker thread so an API's event loop keeps serving."""
    tags = {"site": [site], "device": [device], "flow": [flow]}
    committed_before = await _ledger_times(store, sha, tags)
    with open_table(file, source) as table:
        chunks = _parsed(table, kind, spec, chunk_rows)
        head = await asyncio.to_thread(next, chunks)  # a spec error is raised here
        assert isinstance(head, _Head)
        result = head.result
        plan = ImportPlan(kind, file, sha, site, device, flow, result)
        plan.committed_before = committed_before
        plan.bills, plan.cost = head.bills, head.cost
        tiles = _Tiles()
        while True:
            got = await asyncio.to_thread(next, chunks, None)
            if got is None:
                break
            assert isinstance(got, list)
            if got:
                result.add(got, keep)
                lo, hi = tiles.span(got)
                await _compare(store, plan, got, lo, hi, phase, keep)
            if progress is not None:
                progress(phase, table.done(), table.size)
    return plan


@dataclass(frozen=True, slots=True)
class _Head:
    result: ParseResult
    bills: int | None = None
    cost: float | None = None


def _parsed(
    table: Table, kind: Literal["interval", "bills"], spec: IntervalSpec | BillSpec, n: int
) -> Iterator[_Head | list[ImportedRow]]:
    """The parse's result (first), then the valid rows chunk by chunk, in time order."""
    if kind == "bills":  # a few dozen bills: parsed whole (overlaps need them all)
        assert isinstance(spec, BillSpec)
        rows: Rows = [row for part in table.chunks(n) for row in part]
        whole, bills = parse_bills(table.header, rows, spec)
        days = whole.rows
        result = ParseResult(
            errors=whole.errors,
            unit=whole.unit,
            stored_unit=whole.stored_unit,
            interval_s=whole.interval_s,
            notes=whole.notes,
        )
        yield _Head(result, len(bills), sum(b.cost for b in bills if b.cost is not None))
        for i in range(0, len(days), n):
            yield days[i : i + n]
        return
    assert isinstance(spec, IntervalSpec)
    parser = IntervalParser(table.header, spec)
    yield _Head(parser.result)
    for part in table.chunks(n):
        yield parser.feed(part)
    yield parser.finish()


class _Tiles:
    """Chunk spans that tile the file's span: each starts where the previous one ended, so
    a stored row in a gap between two chunks' rows is still compared (and cleared)."""

    def __init__(self) -> None:
        self.end: int | None = None

    def span(self, rows: Sequence[ImportedRow]) -> tuple[int, int]:
        lo = rows[0].start_ns if self.end is None else self.end
        hi = max(r.start_ns + r.length_ns for r in rows)
        self.end = hi
        return lo, hi


async def _compare(
    store: Store,
    plan: ImportPlan,
    rows: Sequence[ImportedRow],
    lo: int,
    hi: int,
    phase: Phase,
    keep: bool,
) -> None:
    """Compare one chunk's rows with the store over [lo, hi); in phase "check" only count
    the live overlap, in phase "write" write the rows that differ."""
    where = {"site": [plan.site], "device": [plan.device], "flow": [plan.flow]}
    stored = await _stored(store, where, lo, hi, ("quality",) if phase == "check" else COMPARED)
    if phase == "check":
        plan.live += sum(
            1
            for r in rows
            if (old := stored.get(r.start_ns)) is not None and old.get("quality") != IMPORTED
        )
        return
    proposed = energy_rows(rows, plan.site, plan.device, plan.flow, plan.file)
    times = {r.ts for r in proposed}
    new: list[Row] = []
    changed: list[Row] = []
    relabelled: list[Row] = []
    cleared: list[Row] = []
    for row in proposed:
        old = stored.get(row.ts)
        if old is None:
            new.append(row)
        elif old.get("quality") != IMPORTED:
            plan.live += 1
        elif all(old.get(k) == row.fields[k] for k in COMPARED):
            plan.unchanged += 1
        elif all(old.get(k) == row.fields[k] for k in COMPARED if k != "source"):
            relabelled.append(row)
        else:
            changed.append(row)
    tag = {"site": plan.site, "device": plan.device, "flow": plan.flow}
    for ts, old in sorted(stored.items()):
        if ts in times or old.get("quality") != IMPORTED:
            continue
        if old.get("kwh") == 0.0 and old.get("covered_s") == 0.0:
            continue  # cleared before
        cleared.append(
            Row(
                ENERGY,
                tag,
                {
                    "kwh": 0.0,
                    "estimated_kwh": 0.0,
                    "suspect_kwh": 0.0,
                    "covered_s": 0.0,
                    "suspect_n": 0,
                    "quality": IMPORTED,
                    "source": f"{plan.file}:cleared",
                },
                ts,
            )
        )
    plan.n_new += len(new)
    plan.n_changed += len(changed)
    plan.n_relabelled += len(relabelled)
    plan.n_cleared += len(cleared)
    if keep:
        plan.new += new
        plan.changed += changed
        plan.relabelled += relabelled
        plan.cleared += cleared
    if phase == "write":
        if plan.live:
            raise ImportRefused(
                f"{plan.file}: live energy of {plan.device} appeared in the span while "
                f"importing; {plan.written} rows were written before it"
            )
        out = [*new, *changed, *relabelled, *cleared]
        for i in range(0, len(out), WRITE_ROWS):
            await store.write(out[i : i + WRITE_ROWS])
        plan.written += len(out)


async def _stored(
    store: Store,
    where: Mapping[str, Sequence[str]],
    lo: int,
    hi: int,
    fields: Sequence[str] = COMPARED,
) -> dict[int, dict[str, FieldValue | None]]:
    """The stored `energy` fields over [lo, hi), read a month at a time (a year of 15-minute
    rows in one answer trips influxd's row limits); `quality` first, and the other fields
    only where it found rows (a first import reads one field)."""
    out: dict[int, dict[str, FieldValue | None]] = {}
    for a in range(lo, hi, READ_SPAN_NS):
        b = min(hi, a + READ_SPAN_NS)
        names = ["quality", *(f for f in fields if f != "quality")]
        for name in names:
            found = False
            for s in await store.query(SeriesQuery(ENERGY, name, a, b, where)):
                for t, v in zip(s.times, s.values, strict=True):
                    out.setdefault(int(t), {})[name] = v
                    found = True
            if name == "quality" and not found:
                break
    return out


def _sha256(source: Path | bytes) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    with source.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


async def _ledger_times(store: Store, sha: str, where: Mapping[str, Sequence[str]]) -> list[int]:
    got = await store.query(SeriesQuery(IMPORT_LEDGER, "sha256", 0, 2**62, where))
    return sorted(int(t) for s in got for t, v in zip(s.times, s.values, strict=True) if v == sha)
