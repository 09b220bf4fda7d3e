"""Line-protocol encoding speed: peakline's vectorized encoder vs influxdb-client's Point.

Encodes the same readings (series x points, value float + quality int) three ways and prints
readings/s for each; the baseline is influxdb-client's `Point.to_line_protocol()`, measured in
the same run. Last line: a JSON object.  `python bench/lineprotocol_speed.py [readings]`
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np

from peakline_core.storage import Row, RowBlock, encode_block, encode_rows

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


def best(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_ref = best(reference, 1) * n / m
    t_block = best(lambda: encode_block(block))
    t_rows = best(lambda: encode_rows(rows))
    result = {
        "readings": n,
        "influxdb_client_point_readings_per_s": round(n / t_ref),
        "peakline_encode_block_readings_per_s": round(n / t_block),
        "peakline_encode_rows_readings_per_s": round(n / t_rows),
        "speedup_block_vs_point": round(t_ref / t_block, 1),
        "speedup_rows_vs_point": round(t_ref / t_rows, 1),
    }
    for k, v in result.items():
        print(f"{k:40s} {v}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
