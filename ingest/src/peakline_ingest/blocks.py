"""Accepted messages to one columnar `reading` block (pure; the write path's only reshaping)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from peakline_core.storage import RowBlock
from peakline_core.storage.schema import READING
from peakline_ingest.validate import Accepted


def reading_block(messages: Sequence[Accepted]) -> RowBlock:
    """One `reading` block: tags (site, device, point), fields value, quality and text.

    Series are numbered in order of first appearance; `text` is present only when some
    reading carried a string, `value` is NaN (absent) for string and error readings.
    """
    index: dict[tuple[str, str, str], int] = {}
    series: list[dict[str, str]] = []
    # Messages of one device usually repeat its point list: number it once per block.
    layouts: dict[tuple[str, str, tuple[str, ...]], npt.NDArray[np.intp]] = {}
    parts: list[npt.NDArray[np.intp]] = []
    for message in messages:
        site, device = message.batch.site, message.batch.device
        layout = (site, device, tuple(message.points))
        rows = layouts.get(layout)
        if rows is None:
            numbers = []
            for point in message.points:
                key = (site, device, point)
                i = index.get(key)
                if i is None:
                    i = index[key] = len(series)
                    series.append({"site": site, "device": device, "point": point})
                numbers.append(i)
            rows = layouts[layout] = np.array(numbers, dtype=np.intp)
        parts.append(rows)
    fields = {
        "value": np.concatenate([m.value for m in messages]),
        "quality": np.concatenate([m.quality for m in messages]),
    }
    if any(m.has_text for m in messages):
        text = np.empty(sum(len(p) for p in parts), dtype=object)
        text[:] = [t for m in messages for t in m.text]
        fields["text"] = text
    return RowBlock(
        measurement=READING,
        series=series,
        series_index=np.concatenate(parts) if parts else np.zeros(0, dtype=np.intp),
        fields=fields,
        ts=np.concatenate([m.ts for m in messages]),
    )
