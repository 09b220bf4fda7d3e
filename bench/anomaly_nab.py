"""Numenta Anomaly Benchmark (NAB) score of the anomaly engine, on a local NAB checkout.

    uv run --frozen python bench/anomaly_nab.py [NAB_DIR] [--detector peakline]
    NAB_DIR=/work/nab uv run --frozen python bench/anomaly_nab.py --results null numenta

Fetches nothing: NAB_DIR (argument or environment variable) must hold NAB's `data/` and
`labels/combined_windows.json` (e.g. `git archive HEAD data labels config results | tar -x`
of github.com/numenta/NAB); without one the bench prints why and exits 0.

NAB's own scorer (nab/sweeper.py) is Python-2-era code driven through its runner; this file
implements the same standard-profile arithmetic, vectorized, from NAB's description and
code (no code copied):

- per file, the first min(floor(0.15 n), 750) rows are probationary and not scored;
- a row inside a labelled window (labels/combined_windows.json) scores, if detected,
  tp * S(-(right - i + 1) / width) / S(-1) with S(x) = 2 sigmoid(-5 x) - 1 (earliest best);
  only the best (earliest) detection of a window counts; an undetected window costs -fn;
- a detection outside windows costs fp * S((i - right_prev) / (width_prev - 1)) (-1 past 3
  widths, -fp before any window): a false positive just after a window costs little;
- one threshold for the whole corpus, the one maximising the summed score (a row is a
  detection when its score >= threshold);
- normalised: 100 (raw - null) / (perfect - null); null is the constant detector (no row
  ever detected: -fn per scorable window), perfect is tp per labelled window.

Detectors: `peakline` (the engine, exactly what `peakline anomaly score` writes: every file
scored causally from its first row as its own series), `gaussian` (NAB's windowedGaussian
rebuilt from its description: tail probability of each value under the mean/sd of up to the
last 6,400 values, refreshed every 100), `null`. `--results DIR...` scores NAB's published
result files instead (NAB_DIR/results/<name>/, the column `anomaly_score`): this checks the
scorer against NAB's own published figures. JSON object on the last line.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PROFILES: dict[str, tuple[float, float, float]] = {  # tp, fp, fn weights (NAB config)
    "standard": (1.0, 0.11, 1.0),
    "reward_low_FP_rate": (1.0, 0.22, 1.0),
    "reward_low_FN_rate": (1.0, 0.11, 2.0),
}
PUBLISHED = {  # NAB results/final_results.json, standard profile, for the summary line
    "null": 0.0,
    "random": 16.8,
    "windowedGaussian": 39.6,
    "twitterADVec": 47.1,
    "randomCutForest": 51.7,
    "numenta": 70.1,
    "ARTime": 74.9,
}


@dataclass(frozen=True)
class DataFile:
    name: str  # relative to data/, e.g. "realTweets/Twitter_volume_AAPL.csv"
    ts: np.ndarray  # datetime64[ns]
    ts_text: list[str]
    values: np.ndarray  # float64
    windows: list[tuple[int, int]]  # inclusive row indices


def _stamp(text: str) -> np.datetime64:
    return np.datetime64(text.strip().replace(" ", "T"), "ns")


def load_corpus(nab_dir: Path) -> list[DataFile]:
    labels = json.loads((nab_dir / "labels" / "combined_windows.json").read_text())
    files = []
    for name in sorted(labels):
        with open(nab_dir / "data" / name, newline="") as fh:
            rows = list(csv.reader(fh))[1:]
        ts = np.array([_stamp(r[0]) for r in rows])
        windows = []
        for lo, hi in labels[name]:
            left, right = np.searchsorted(ts, [_stamp(lo), _stamp(hi)])
            if ts[left] != _stamp(lo) or ts[right] != _stamp(hi):
                raise SystemExit(f"{name}: window {lo}..{hi} not on a row timestamp")
            windows.append((int(left), int(right)))
        values = np.array([float(r[1]) for r in rows])
        files.append(DataFile(name, ts, [r[0] for r in rows], values, windows))
    return files


def scaled_sigmoid(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.where(x > 3.0, -1.0, 2.0 / (1.0 + np.exp(5.0 * x)) - 1.0)
    return out


def row_weights(
    n: int, windows: list[tuple[int, int]], profile: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(score if detected, window id or -1, scorable) per row of one file."""
    tp, fp, _ = PROFILES[profile]
    i = np.arange(n)
    weight = np.full(n, -fp)  # before any window: as far from one as can be
    win = np.full(n, -1)
    max_tp = float(scaled_sigmoid(np.array(-1.0)))
    for k, (left, right) in enumerate(windows):
        width = right - left + 1
        inside = slice(left, right + 1)
        weight[inside] = scaled_sigmoid(-(right - i[inside] + 1) / width) * tp / max_tp
        win[inside] = k
        stop = windows[k + 1][0] if k + 1 < len(windows) else n
        after = slice(right + 1, stop)
        weight[after] = fp * scaled_sigmoid((i[after] - right) / (width - 1.0))
    probation = min(math.floor(0.15 * n), 0.15 * 5000)
    return weight, win, i >= probation


def corpus_score(
    files: list[DataFile], scores: list[np.ndarray], profile: str
) -> tuple[float, float, int, int]:
    """(best raw score, its threshold, detections in windows, detections outside) at the
    one threshold for the whole corpus that maximises the raw score."""
    _, _, fn = PROFILES[profile]
    parts_w, parts_win, parts_s = [], [], []
    windows = 0
    for f, s in zip(files, scores, strict=True):
        w, win, ok = row_weights(f.values.size, f.windows, profile)
        win = np.where(win >= 0, win + windows, -1)
        windows += len(f.windows)
        parts_w.append(w[ok])
        parts_win.append(win[ok])
        parts_s.append(np.asarray(s, dtype=np.float64)[ok])
    weight, win, score = map(np.concatenate, (parts_w, parts_win, parts_s))
    score = np.nan_to_num(score, nan=0.0)
    scorable_windows = np.unique(win[win >= 0])
    base = -fn * scorable_windows.size
    # a window counts its best detection: in each window, in order of falling score, the
    # running best weight; a row adds the rise of that running best (from -fn)
    delta = np.where(win < 0, weight, 0.0)
    inw = np.flatnonzero(win >= 0)
    order = inw[np.lexsort((-score[inw], win[inw]))]
    wo = win[order]
    running = np.maximum.accumulate(weight[order] + 4.0 * wo) - 4.0 * wo
    first = np.r_[True, wo[1:] != wo[:-1]]
    prev = np.where(first, -fn, np.r_[-fn, running[:-1]])
    delta[order] = running - np.maximum(prev, -fn)
    # sweep the threshold down through the distinct scores
    desc = np.argsort(-score, kind="stable")
    total = base + np.cumsum(delta[desc])
    s_desc = score[desc]
    last_of_level = np.r_[s_desc[1:] != s_desc[:-1], True]
    cand = np.r_[base, total[last_of_level]]
    thresholds = np.r_[1.1, s_desc[last_of_level]]
    best = int(np.argmax(cand))
    thr = float(thresholds[best])
    hit = score >= thr
    return float(cand[best]), thr, int((hit & (win >= 0)).sum()), int((hit & (win < 0)).sum())


def normalised(files: list[DataFile], scores: list[np.ndarray], profile: str) -> dict:
    tp, _, _ = PROFILES[profile]
    raw, thr, in_w, out_w = corpus_score(files, scores, profile)
    null = corpus_score(files, [np.zeros(f.values.size) for f in files], profile)[0]
    perfect = tp * sum(len(f.windows) for f in files)
    return {
        "score": round(100.0 * (raw - null) / (perfect - null), 2),
        "raw": round(raw, 3),
        "threshold": thr,
        "detections_in_windows": in_w,
        "detections_outside": out_w,
    }


def windowed_gaussian(values: np.ndarray, window: int = 6400, step: int = 100) -> np.ndarray:
    """NAB's windowedGaussian, rebuilt: score = 1 - Q(|x - mean| / sd) with mean and sd of
    the window as of the previous refresh (grow by one value until full, then every step)."""
    n = values.size
    c1 = np.r_[0.0, np.cumsum(values)]
    c2 = np.r_[0.0, np.cumsum(values * values)]
    i = np.arange(n)
    # after row i-1 was added, the window holds rows [lo, hi)
    hi = np.where(i <= window, i, window + ((i - window) // step) * step)
    lo = np.maximum(hi - window, 0)
    cnt = np.maximum(hi - lo, 1)
    mean = (c1[hi] - c1[lo]) / cnt
    var = np.maximum((c2[hi] - c2[lo]) / cnt - mean * mean, 0.0)
    sd = np.where(var > 0, np.sqrt(var), 1e-6)
    z = np.abs(values - mean) / sd
    erfc = np.frompyfunc(math.erfc, 1, 1)
    tail = 0.5 * erfc(z / math.sqrt(2.0)).astype(np.float64)
    out: np.ndarray = np.where(i == 0, 0.0, 1.0 - tail)
    return out


def peakline(files: list[DataFile], settings: dict[str, float]) -> list[np.ndarray]:
    from peakline_core.anomaly.config import AnomalyConfig
    from peakline_core.anomaly.csvscore import parse_timestamps, score_table

    config = AnomalyConfig(**settings)
    out = []
    for f in files:
        ((score, _),) = score_table(parse_timestamps(f.ts_text), [f.values], config)
        out.append(np.nan_to_num(score.astype(np.float64), nan=0.0))
    return out


def published(nab_dir: Path, files: list[DataFile], detector: str) -> list[np.ndarray]:
    out = []
    for f in files:
        folder, base = f.name.split("/")
        path = nab_dir / "results" / detector / folder / f"{detector}_{base}"
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            out.append(np.array([float(r["anomaly_score"]) for r in reader]))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("nab_dir", nargs="?", default=os.environ.get("NAB_DIR"))
    ap.add_argument(
        "--detector", nargs="+", default=["peakline"], choices=["peakline", "gaussian", "null"]
    )
    ap.add_argument("--results", nargs="*", default=[], help="published NAB result folders")
    ap.add_argument("--profile", nargs="+", default=["standard"], choices=list(PROFILES))
    ap.add_argument("--per-file", action="store_true", help="print each file's detections")
    ap.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KNOB=VALUE",
        help="AnomalyConfig knobs for a sensitivity check (the figure to report uses none)",
    )
    args = ap.parse_args()
    if not args.nab_dir:
        print("anomaly_nab: skipped, no NAB checkout (give its path or set NAB_DIR)")
        return 0
    nab_dir = Path(args.nab_dir)
    if not (nab_dir / "labels" / "combined_windows.json").is_file():
        print(f"anomaly_nab: skipped, {nab_dir} holds no labels/combined_windows.json")
        return 0
    files = load_corpus(nab_dir)
    report: dict[str, dict] = {}
    runs = [(d, None) for d in args.detector] + [(r, "published") for r in args.results]
    for name, kind in runs:
        t0 = time.process_time()
        if kind == "published":
            scores = published(nab_dir, files, name)
            label = f"published:{name}"
        elif name == "peakline":
            settings = {k: float(v) for k, v in (kv.split("=", 1) for kv in args.set)}
            scores = peakline(files, settings)
            label = name
        elif name == "gaussian":
            scores = [windowed_gaussian(f.values) for f in files]
            label = name
        else:
            scores = [np.full(f.values.size, 0.5) for f in files]
            label = name
        cpu = time.process_time() - t0
        report[label] = {p: normalised(files, scores, p) for p in args.profile}
        report[label]["cpu_s"] = round(cpu, 2)  # type: ignore[assignment]
        line = ", ".join(f"{p} {report[label][p]['score']:.1f}" for p in args.profile)
        print(f"{label:>28}: {line}  (scoring {cpu:.1f} s CPU)")
        if args.per_file:
            prof = args.profile[0]
            thr = report[label][prof]["threshold"]
            for f, s in zip(files, scores, strict=True):
                _w, win, ok = row_weights(f.values.size, f.windows, prof)
                hit = (s >= thr) & ok
                print(
                    f"    {f.name:60s} in {int((hit & (win >= 0)).sum()):5d} "
                    f"out {int((hit & (win < 0)).sum()):5d} windows {len(f.windows)}"
                )
    print("published (standard):", ", ".join(f"{k} {v}" for k, v in PUBLISHED.items()))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
