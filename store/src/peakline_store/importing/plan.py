"""Plan an import against the store (the dry run), and commit a plan.

A plan holds every row the file gives and compares it with what the store holds for the
same device and flow over the file's span:

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
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from peakline_core.importing import (
    BillSpec,
    IntervalSpec,
    ParseResult,
    energy_rows,
    parse_bills,
    parse_interval,
)
from peakline_core.importing.result import IMPORTED
from peakline_core.storage import Row, SeriesQuery, Store
from peakline_core.storage.schema import ENERGY, IMPORT_DEVICE, IMPORT_LEDGER, LATE_DATA
from peakline_core.storage.store import FieldValue
from peakline_store.errors import StorePackageError
from peakline_store.importing.files import read_table

NS = 1_000_000_000
COMPARED = ("kwh", "estimated_kwh", "covered_s", "quality", "source")
WORKER = "import"
READ_SPAN_NS = 31 * 86400 * NS


class ImportRefused(StorePackageError):
    """A plan that must not be committed (it overlaps live data, or has no valid row)."""


@dataclass(slots=True)
class ImportPlan:
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
    unchanged: int = 0
    live: int = 0
    committed_before: list[int] = field(default_factory=list)
    bills: int | None = None
    cost: float | None = None
    """Bills only: how many were valid, and the sum of their costs (reported, not stored)."""

    @property
    def to_write(self) -> list[Row]:
        return [*self.new, *self.changed, *self.relabelled, *self.cleared]

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
            "rows": len(self.result.rows),
            "span": None if span is None else {"from_ns": span[0], "to_ns": span[1]},
            "total": self.result.total,
            "new": len(self.new),
            "changed": len(self.changed),
            "cleared": len(self.cleared),
            "relabelled": len(self.relabelled),
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
    """Parse `data` (the file `file`) and compare its rows with the store: the dry run."""
    header, rows = read_table(file, data)
    if kind == "bills":
        assert isinstance(spec, BillSpec)
        result, bills = parse_bills(header, rows, spec)
    else:
        assert isinstance(spec, IntervalSpec)
        result = parse_interval(header, rows, spec)
    plan = ImportPlan(kind, file, hashlib.sha256(data).hexdigest(), site, device, flow, result)
    if kind == "bills":
        plan.bills = len(bills)
        plan.cost = sum(b.cost for b in bills if b.cost is not None)
    tags = {"site": [site], "device": [device], "flow": [flow]}
    plan.committed_before = await _ledger_times(store, plan.sha256, tags)
    span = result.span
    if span is None:
        return plan
    stored = await _stored(store, tags, span[0], span[1])
    proposed = energy_rows(result, site, device, flow, file)
    times = {r.ts for r in proposed}
    for row in proposed:
        old = stored.get(row.ts)
        if old is None:
            plan.new.append(row)
        elif old.get("quality") != IMPORTED:
            plan.live += 1
        elif all(old.get(k) == row.fields[k] for k in COMPARED):
            plan.unchanged += 1
        elif all(old.get(k) == row.fields[k] for k in COMPARED if k != "source"):
            plan.relabelled.append(row)
        else:
            plan.changed.append(row)
    tag = {"site": site, "device": device, "flow": flow}
    for ts, old in sorted(stored.items()):
        if ts in times or old.get("quality") != IMPORTED:
            continue
        if old.get("kwh") == 0.0 and old.get("covered_s") == 0.0:
            continue  # cleared before
        plan.cleared.append(
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
                    "source": f"{file}:cleared",
                },
                ts,
            )
        )
    return plan


async def commit(
    store: Store,
    plan: ImportPlan,
    progress: Callable[[int], None] | None = None,
    chunk: int = 5000,
    clock_ns: Callable[[], int] = time.time_ns,
) -> int:
    """Write the plan's new, changed and cleared rows, the ledger row and the deriver's mark;
    returns the number of `energy` rows written (0 for a file already imported)."""
    if plan.live:
        raise ImportRefused(
            f"{plan.file}: {plan.live} intervals of the span already hold "
            f"energy derived from live readings of {plan.device}; import only "
            "the history before them"
        )
    if not plan.result.rows:
        raise ImportRefused(f"{plan.file}: no valid row to import")
    rows = plan.to_write
    for i in range(0, len(rows), chunk):
        part = rows[i : i + chunk]
        await store.write(part)
        if progress is not None:
            progress(len(part))
    span = plan.result.span
    assert span is not None
    lo = min([span[0], *(r.ts for r in plan.cleared)])
    hi = max([span[1], *(r.ts + 1 for r in plan.cleared)])
    now = clock_ns()
    tags = {"site": plan.site, "device": plan.device, "flow": plan.flow}
    done = [
        Row(
            IMPORT_LEDGER,
            tags,
            {
                "file": plan.file,
                "sha256": plan.sha256,
                "kind": plan.kind,
                "rows": len(plan.result.rows),
                "written": len(rows),
                "from_ns": lo,
                "to_ns": hi,
                "total": plan.result.total,
            },
            now,
        )
    ]
    if rows:
        mark = {"site": plan.site, "device": IMPORT_DEVICE + plan.device, "worker": WORKER}
        done.append(Row(LATE_DATA, mark, {"from_ns": lo, "to_ns": hi}, now))
    await store.write(done)
    return len(rows)


async def _stored(
    store: Store, where: Mapping[str, Sequence[str]], lo: int, hi: int
) -> dict[int, dict[str, FieldValue | None]]:
    """The stored `energy` fields over [lo, hi), read a month at a time (a year of 15-minute
    rows in one answer trips influxd's row limits)."""
    out: dict[int, dict[str, FieldValue | None]] = {}
    for a in range(lo, hi, READ_SPAN_NS):
        b = min(hi, a + READ_SPAN_NS)
        for name in COMPARED:
            for s in await store.query(SeriesQuery(ENERGY, name, a, b, where)):
                for t, v in zip(s.times, s.values, strict=True):
                    out.setdefault(int(t), {})[name] = v
    return out


async def _ledger_times(store: Store, sha: str, where: Mapping[str, Sequence[str]]) -> list[int]:
    got = await store.query(SeriesQuery(IMPORT_LEDGER, "sha256", 0, 2**62, where))
    return sorted(int(t) for s in got for t, v in zip(s.times, s.values, strict=True) if v == sha)
