"""`LateMarks`: the one thing an ingest worker tells the deriver, stateless per series.

After a batch is stored, every device whose readings in it are older than half the
deriver's lateness gets a `late_data` row (tags site, device, worker; fields from_ns and
to_ns, the span of those readings; time = when they were stored). The deriver reads marks
each step and re-derives the windows they touch. Half the lateness, because the deriver
reads up to `now - lateness` and a write may finish just after its read: a reading the
deriver missed is always marked, whichever worker stored it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from peakline_core.storage import Row, RowBlock
from peakline_core.storage.schema import GRID_DEVICE, LATE_DATA
from peakline_ingest.processors import ProcessorOutput
from peakline_ingest.validate import Accepted

NS = 1_000_000_000


class LateMarks:
    """A batch processor: marks rows for readings stored later than the lateness allows."""

    name = "late_marks"

    def __init__(
        self, worker: str, lateness_s: float, clock_ns: Callable[[], int] = time.time_ns
    ) -> None:
        self.worker = worker
        self.threshold_ns = int(lateness_s * NS / 2)
        self.clock_ns = clock_ns
        self.marked = 0

    def process(self, messages: Sequence[Accepted], block: RowBlock) -> ProcessorOutput:
        out = ProcessorOutput()
        if len(block) == 0:
            return out
        now = self.clock_ns()
        late = block.ts < now - self.threshold_ns
        if not late.any():
            return out
        sidx = block.series_index[late]
        ts = block.ts[late]
        devices = np.array([f"{t['site']}\x00{t['device']}" for t in block.series], dtype=object)[
            sidx
        ]
        for key in np.unique(devices).tolist():
            pick = devices == key
            site, device = str(key).split("\x00")
            out.rows.append(
                Row(
                    LATE_DATA,
                    {"site": site, "device": device, "worker": self.worker},
                    {"from_ns": int(ts[pick].min()), "to_ns": int(ts[pick].max())},
                    now,
                )
            )
        self.marked += len(out.rows)
        return out

    def grid(self, row: Row) -> Row | None:
        """The mark for one stored `carbon_intensity` point, or None when it is not late."""
        now = self.clock_ns()
        if row.ts >= now - self.threshold_ns:
            return None
        device = GRID_DEVICE + row.tags["region"]
        self.marked += 1
        return Row(
            LATE_DATA,
            {"site": device, "device": device, "worker": self.worker},
            {"from_ns": row.ts, "to_ns": row.ts},
            now,
        )
