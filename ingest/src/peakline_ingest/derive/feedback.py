"""Operators' verdicts on anomaly events, read back from the store for the anomaly scorer.

The API writes `anomaly_feedback` rows (one per point of the incident, see the storage
schema); the deriver reads the false alarms at its first step and every `feedback_s` after,
and hands them to the engine (`peakline_core.anomaly.feedback`). The table is rebuilt from
the stored rows each time, never carried in the checkpoint, so a restarted deriver (or a
second one on the same store) honours exactly the same verdicts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from peakline_core.anomaly.feedback import Dismissal
from peakline_core.storage import SeriesQuery, Store
from peakline_core.storage.schema import ANOMALY_FEEDBACK

_FIELDS = ("verdict", "detector", "given", "low", "high", "peak")


async def stored_dismissals(store: Store, start_ns: int, end_ns: int) -> list[Dismissal]:
    """The false alarms on events that started in [start_ns, end_ns) (UTC ns), one per
    point of each dismissed incident, the latest verdict of each event winning."""
    answers = await asyncio.gather(
        *(store.query(SeriesQuery(ANOMALY_FEEDBACK, f, start_ns, end_ns)) for f in _FIELDS)
    )
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for field, series_list in zip(_FIELDS, answers, strict=True):
        for s in series_list:
            key = "/".join(s.tags.get(t, "") for t in ("site", "device", "point"))
            for t, v in zip(s.times, s.values, strict=True):
                rows.setdefault((key, int(t)), {})[field] = v
    out = []
    for (series, _), f in sorted(rows.items()):
        if f.get("verdict") != "false_alarm" or not isinstance(f.get("detector"), str):
            continue
        out.append(
            Dismissal(
                series,
                str(f["detector"]),
                int(_number(f.get("given"), 0.0)),
                _number(f.get("low")),
                _number(f.get("high")),
                _number(f.get("peak"), 1.0),
            )
        )
    return out


def _number(value: Any, default: float = float("nan")) -> float:
    return float(value) if isinstance(value, int | float) else default
