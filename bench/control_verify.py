"""Demand-response verification throughput: the vectorized core (`resample_mean` per site and
`verify` over `[site, slot]`) against a plain-Python per-reading loop, measured in one run.

    uv run --frozen python bench/control_verify.py [--sites 500] [--hours 4]

Input: each site's meter at 1 s for the event (hours) and the same for a pre-event window;
1-minute slots. Prints figures, then a JSON object on the last line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from peakline_core.control import pre_event_baseline, resample_mean, verify

NS = 1_000_000_000


def python_loop(ts: np.ndarray, kw: list[list[float]], pre: list[list[float]], slot_ns: int,
                slots: int) -> list[float]:  # fmt: skip
    """The obvious per-reading version: shed kWh per site."""
    out = []
    tsl = ts.tolist()
    for site_kw, site_pre in zip(kw, pre, strict=True):
        base = sum(site_pre) / len(site_pre)
        sums = [0.0] * slots
        counts = [0] * slots
        for t, v in zip(tsl, site_kw, strict=True):
            i = t // slot_ns
            sums[i] += v
            counts[i] += 1
        shed = sum(base - s / c for s, c in zip(sums, counts, strict=True) if c)
        out.append(shed * slot_ns / NS / 3600)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=500)
    parser.add_argument("--hours", type=float, default=4.0)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    n = int(args.hours * 3600)
    slot_ns = 60 * NS
    slots = -(-n * NS // slot_ns)
    ts = np.arange(n, dtype=np.int64) * NS
    kw = rng.normal(100.0, 5.0, (args.sites, n))
    pre = rng.normal(110.0, 5.0, (args.sites, 900))

    t0 = time.perf_counter()
    actual = np.stack([resample_mean(ts, kw[i], 0, slot_ns, slots) for i in range(args.sites)])
    result = verify(pre_event_baseline(pre, slots), actual, 60.0, 500.0)
    vec_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    loop = python_loop(ts, kw.tolist(), pre.tolist(), slot_ns, slots)
    loop_s = time.perf_counter() - t0
    assert np.allclose(result.shed_kwh, loop), "vectorized and loop results differ"

    readings = args.sites * n
    print(f"sites={args.sites} readings={readings:,} slots={slots}")
    print(f"vectorized: {vec_s * 1000:.1f} ms ({readings / vec_s / 1e6:.1f} M readings/s)")
    print(f"python loop baseline: {loop_s * 1000:.1f} ms ({readings / loop_s / 1e6:.2f} M/s)")
    print(f"speed-up: {loop_s / vec_s:.1f}x")
    print(json.dumps({"bench": "control_verify", "sites": args.sites, "readings": readings,
                      "vectorized_ms": round(vec_s * 1000, 1),
                      "loop_ms": round(loop_s * 1000, 1),
                      "speedup": round(loop_s / vec_s, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
