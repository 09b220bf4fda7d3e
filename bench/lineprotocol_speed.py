"""Line-protocol encoding speed: peakline's vectorized encoder vs influxdb-client's Point.

Encodes the same readings (series x points, value float + quality int) with `encode_block`
(series keys escaped on each call, and with a `SeriesKeys` kept from an earlier call as the
ingest writer holds it), with `encode_rows` and, as the baseline, with influxdb-client's
`Point.to_line_protocol()` (on a 50,000-reading slice, scaled); each is the fastest of 3 runs
taken in turns. Prints readings/s for each. Last line: a JSON object.  `python bench/lineprotocol_speed.py [readings]`
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np

from peakline_core.storage import Row, RowBlock, SeriesKeys, encode_block, encode_rows

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from influxdb_client import Point

T0 = 1_700_000_000_000_000_000


def data(
    n: int, series: int = 500
) -> tuple[list[dict[str, str]], np.ndarray, np.ndarray, np.ndarray]:
    tags = [
        {"site": f"site-{i % 20}", "device": f"meter-{i}", "point": "power_w"}
        for i in range(series)
    ]
    rng = np.random.default_rng(1)
    index = np.arange(n) % series
    values = rng.normal(4000.0, 500.0, n).round(3)
    ts = T0 + (np.arange(n) // series) * 10_000_000_000
    return tags, index, values, ts


def best_interleaved(fns: dict[str, Callable[[], object]], repeat: int = 3) -> dict[str, float]:
    """Fastest of `repeat` runs of each, the runs taken in turns so that load from elsewhere
    on the machine falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    tags, index, values, ts = data(n)
    block = RowBlock(
        "reading", tags, index.astype(np.intp),
        {"value": values, "quality": np.zeros(n, dtype=np.int64)}, ts.astype(np.int64),
    )  # fmt: skip
    rows = [
        Row("reading", tags[i], {"value": v, "quality": 0}, t)
        for i, v, t in zip(index.tolist(), values.tolist(), ts.tolist(), strict=True)
    ]
    m = min(n, 50_000)  # the reference is slow: time a slice and scale

    def reference() -> None:
        for i, v, t in zip(index[:m].tolist(), values[:m].tolist(), ts[:m].tolist(), strict=True):
            p = Point("reading")
            for k, val in tags[i].items():
                p.tag(k, val)
            p.field("value", v).field("quality", 0).time(t)
            p.to_line_protocol()

    keys = SeriesKeys()  # as a writer holds it: series keys escaped once, then reused
    encode_block(block, keys)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = best_interleaved(
            {
                "ref": reference,
                "block": lambda: encode_block(block),
                "block_keys": lambda: encode_block(block, keys),
                "rows": lambda: encode_rows(rows),
            }
        )
    t_ref = t["ref"] * n / m
    result = {
        "readings": n,
        "influxdb_client_point_readings_per_s": round(n / t_ref),
        "peakline_encode_block_readings_per_s": round(n / t["block"]),
        "peakline_encode_block_cached_keys_readings_per_s": round(n / t["block_keys"]),
        "peakline_encode_rows_readings_per_s": round(n / t["rows"]),
        "speedup_block_vs_point": round(t_ref / t["block"], 1),
        "speedup_block_cached_keys_vs_point": round(t_ref / t["block_keys"], 1),
        "speedup_rows_vs_point": round(t_ref / t["rows"], 1),
    }
    for k, v in result.items():
        print(f"{k:40s} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
