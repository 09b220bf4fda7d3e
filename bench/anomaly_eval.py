"""Anomaly detection quality on firmware-sim fault scenarios, scored against ground truth.

    uv run --frozen python bench/anomaly_eval.py [--trials 3] [--days 21] [--step-s 300]
        [--scenario config/scenarios/anomaly-eval.yaml]

For each trial the anomaly-eval scenario (district-small frozen at 12 devices, so that figures
stay comparable as the demo grows) gets a set of faults at random times after a two-week
warm-up; `firmware_sim.render` produces every (device, point) series and the ground
truth offline; the engine scores every series causally. A fault counts as detected if an
event on one of its series (the point, or any point of a whole-device fault) overlaps
[start, end + tolerance]; an event overlapping no fault on its device or on a device
physically linked to it (a meter that includes the faulty HVAC) is a false positive.
Detection delay = first matching event start - fault start. False events are listed by
detector and by series, and counted apart when they start in a series' first 25 h (before
the seasonal models are armed). JSON on the last line.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np

from firmware_sim.profiles import load_profiles
from firmware_sim.render import render
from firmware_sim.scenario import FaultSpec, Scenario
from peakline_core.anomaly import AnomalyEngine

NS = 1_000_000_000
DAY = 86400 * NS
TOLERANCE_NS = 3600 * NS


def counters(profile) -> dict[str, float | None]:
    pts = getattr(profile, "points", None) or getattr(profile, "fields", [])
    return {p.name: getattr(p, "rollover", None) for p in pts if getattr(p, "counter", False)}


def fault_set(
    rng: np.random.Generator, start: float, days: int, meter_energy: str
) -> list[FaultSpec]:
    def at() -> str:
        return f"{rng.uniform(15, days - 2) * 86400:.0f}s"

    return [
        FaultSpec(
            kind="spike",
            device="office-meter",
            point="power_total",
            start=at(),
            duration="5m",
            magnitude=3.0,
        ),
        FaultSpec(
            kind="flatline", device="school-air", point="temperature", start=at(), duration="6h"
        ),
        FaultSpec(
            kind="drift",
            device="school-air",
            point="co2",
            start=at(),
            duration="24h",
            rate_per_h=25.0,
        ),
        FaultSpec(kind="dropout", device="office-meter", start=at(), duration="2h"),
        FaultSpec(kind="counter_reset", device="school-meter", point=meter_energy, start=at()),
        FaultSpec(kind="hvac_waste", device="school-hvac", start=at(), duration="12h"),
        FaultSpec(kind="theft", device="office-meter", start=at(), duration="48h", fraction=0.4),
    ]


def links(scenario: Scenario) -> dict[str, set[str]]:
    linked: dict[str, set[str]] = defaultdict(set)
    for d in scenario.devices:
        for other in [*d.physics.includes, *d.physics.feeds]:
            linked[d.id].add(other)
            linked[other].add(d.id)
    for d in scenario.devices:  # two hops: feeder -> meter -> hvac
        for other in list(linked[d.id]):
            linked[d.id] |= linked[other]
    return linked


def trial(seed: int, days: int, step_s: float, path: str) -> tuple[list, list, dict]:
    base = Scenario.from_yaml(path)
    profiles = load_profiles("config/profiles")
    meter_counters = counters(profiles[base.device("school-meter").profile])
    energy = next(iter(meter_counters))
    rng = np.random.default_rng(seed)
    scenario = base.model_copy(update={"seed": seed, "faults": fault_set(rng, 0, days, energy)})
    start = int(scenario.start.timestamp()) * NS
    rendered = render(scenario, profiles, start, start + days * DAY, step_s)
    engine = AnomalyEngine()
    keys, rows = [], []
    for device, point in rendered.keys:
        values = rendered.values[(device, point)]
        if not np.isfinite(values).any() or (np.nanstd(values) == 0 and point != energy):
            continue
        dev = scenario.device(device)
        cmap = counters(profiles[dev.profile])
        key = f"{device}/{point}"
        if point in cmap:
            engine.register_series(key, counter=True, rollover=cmap[point])
        engine.register_series(key, utc_offset_s=int(scenario.utc_offset_h * 3600))
        keys.append(key)
        rows.append(values)
    ts = np.broadcast_to(rendered.timestamps, (len(rows), rendered.timestamps.size)).copy()
    batch = engine.score(keys, ts, np.stack(rows))
    events = batch.events + engine.open_events()
    return rendered.ground_truth, events, links(scenario), start


def evaluate(truth, events, linked, end_ns: int) -> tuple[dict, int, list]:
    per_kind: dict[str, dict] = defaultdict(lambda: {"faults": 0, "detected": 0, "delays": []})
    used = [False] * len(events)
    for f in truth:
        stats = per_kind[f.kind]
        stats["faults"] += 1
        hi = (f.end_ns or end_ns) + TOLERANCE_NS
        hits = []
        for i, ev in enumerate(events):
            device, point = ev.series.split("/", 1)
            if device != f.device or (f.point and point != f.point):
                continue
            if ev.start_ns <= hi and (ev.end_ns or end_ns) >= f.start_ns:
                hits.append(ev.start_ns)
                used[i] = True
        if hits:
            stats["detected"] += 1
            stats["delays"].append(max(0, min(hits) - f.start_ns) / NS)
    false = []
    for i, ev in enumerate(events):
        if used[i]:
            continue
        device = ev.series.split("/", 1)[0]
        explained = any(
            (f.device == device or device in linked[f.device])
            and ev.start_ns <= (f.end_ns or end_ns) + TOLERANCE_NS
            and (ev.end_ns or end_ns) >= f.start_ns
            for f in truth
        )
        if not explained:
            false.append(ev)
    return per_kind, sum(used), false


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--days", type=int, default=21)
    parser.add_argument("--step-s", type=float, default=300.0)
    parser.add_argument("--scenario", default="config/scenarios/anomaly-eval.yaml")
    args = parser.parse_args()
    false_by: dict[str, int] = defaultdict(int)
    false_first_day = 0
    totals: dict[str, dict] = defaultdict(lambda: {"faults": 0, "detected": 0, "delays": []})
    tp_events = fp_events = 0
    for seed in range(args.trials):
        truth, events, linked, start = trial(seed, args.days, args.step_s, args.scenario)
        end = max((e.end_ns or 0) for e in events) if events else 0
        per_kind, tp, false = evaluate(truth, events, linked, end)
        tp_events += tp
        fp_events += len(false)
        for ev in false:
            false_by[f"{ev.kind} {ev.series}"] += 1
            false_first_day += ev.start_ns < start + DAY + 3600 * NS
        for kind, s in per_kind.items():
            for k in ("faults", "detected"):
                totals[kind][k] += s[k]
            totals[kind]["delays"] += s["delays"]
    precision = tp_events / max(tp_events + fp_events, 1)
    result: dict[str, dict] = {}
    n_faults = sum(s["faults"] for s in totals.values())
    n_det = sum(s["detected"] for s in totals.values())
    for kind, s in sorted(totals.items()):
        recall = s["detected"] / s["faults"]
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        delay = float(np.mean(s["delays"])) if s["delays"] else None
        result[kind] = {
            "recall": round(recall, 3),
            "precision": round(precision, 3),
            "f1": round(f1, 3),
            "mean_delay_s": delay and round(delay),
        }
        print(
            f"{kind:14s} recall {recall:.2f}  mean delay {delay if delay is None else round(delay)} s"
        )
    recall = n_det / max(n_faults, 1)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    delays = [d for s in totals.values() for d in s["delays"]]
    by_kind: dict[str, int] = defaultdict(int)
    for what, n in false_by.items():
        by_kind[what.split()[0]] += n
    overall = {
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
        "mean_delay_s": round(float(np.mean(delays))) if delays else None,
        "faults": n_faults,
        "true_events": tp_events,
        "false_events": fp_events,
        "false_events_first_25h": false_first_day,
        "false_by_detector": dict(by_kind),
    }
    print("false events by detector:", dict(sorted(by_kind.items(), key=lambda kv: -kv[1])))
    for what, n in sorted(false_by.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {n:3d}  {what}")
    print(f"false events starting in the first 25 h: {false_first_day}")
    print(
        f"overall: precision {precision:.2f} recall {recall:.2f} F1 {f1:.2f} "
        f"({tp_events} matching events, {fp_events} false)"
    )
    print(
        json.dumps(
            {
                "per_kind": result,
                "overall": overall,
                "trials": args.trials,
                "days": args.days,
                "step_s": args.step_s,
            }
        )
    )


if __name__ == "__main__":
    main()
