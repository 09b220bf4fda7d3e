"""The energy cases under tests/cases/energy/, run through the deriver and a real SQLite store.

Each case stores its readings, steps the deriver's clock through them in uneven steps (so
the walks are fed in chunks), stores the late readings with the mark ingest writes for them
(if any), steps on, and compares every stored 1-minute `energy` row with the case's
expectation (kWh and quality per window; no other window written)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from peakline_core.storage import Row, RowBlock, SeriesQuery
from peakline_core.storage.schema import ENERGY, READING
from peakline_ingest.derive import Deriver, DeriveSettings, EnergySource, LateMarks
from peakline_store.sqlite import SqliteStore

S = 1_000_000_000
T0 = 1_767_225_600 * S  # 2026-01-01 00:00 UTC
CASES = Path(__file__).resolve().parents[2] / "cases" / "energy"
TAGS = {"site": "s1", "device": "m", "point": "p"}


def _readings(path: Path) -> list[tuple[int, float]]:
    with path.open() as f:
        return [(T0 + int(float(r["t_s"]) * S), float(r["value"])) for r in csv.DictReader(f)]


def _rows(readings: list[tuple[int, float]]) -> list[Row]:
    return [Row(READING, TAGS, {"value": v, "quality": 0}, t) for t, v in readings]


def _expected(case: dict[str, Any]) -> dict[int, tuple[float, str]]:
    exp = case["expected"]
    out = {}
    for start in range(exp["windows_from_s"], exp["windows_to_s"] + 1, 60):
        want = exp["default"]
        for r in exp.get("ranges", []):
            if r["from_s"] <= start < r["to_s"]:
                want = r
        want = exp.get("windows", {}).get(start, want)
        out[T0 + start * S] = (float(want["kwh"]), want["quality"])
    return out


async def _step_through(deriver: Deriver, now: int, until: int) -> int:
    while now < until:
        now = min(until, now + 47 * S)
        await deriver.step_to(now)
    return now


@pytest.mark.parametrize("name", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
async def test_energy_case(name: str, tmp_path: Path) -> None:
    folder = CASES / name
    case = yaml.safe_load((folder / "case.yaml").read_text())
    src = case["source"]
    kind = src["kind"]
    source = EnergySource(
        "s1",
        "m",
        "p",
        "import" if kind == "counter" else "net",
        kind,
        1.0,
        src.get("rollover"),
        src["max_kw"],
    )
    swaps = tuple(
        (T0 + int(r["at_s"] * S), float(r["old_kwh"]), float(r["new_kwh"]))
        for r in src.get("replacements", [])
    )
    store = SqliteStore(tmp_path / "store.db")
    settings = DeriveSettings(lateness_s=10.0)
    deriver = Deriver(store, [source], {}, None, settings, replacements={("m", "p"): swaps})
    deriver.start_at(T0 - 60 * S)
    try:
        readings = _readings(folder / "readings.csv")
        await store.write(_rows(readings))
        # past the last reading by the lateness and one window: the walks are fed once per
        # closed window, so the last reading's window reaches them at the next boundary
        end = max(t for t, _ in readings) + 15 * S + settings.window_s * S
        now = await _step_through(deriver, T0, end)
        if (folder / "late.csv").exists():
            late = _readings(folder / "late.csv")
            await store.write(_rows(late))
            ts = np.array([t for t, _ in late], dtype=np.int64)
            block = RowBlock(
                READING,
                [TAGS],
                np.zeros(ts.size, np.intp),
                {"value": np.array([v for _, v in late]), "quality": np.zeros(ts.size, np.int64)},
                ts,
            )
            marks = LateMarks("w1", settings.lateness_s, clock_ns=lambda: now).process([], block)
            assert marks.rows, "the late readings were marked"
            await store.write(marks.rows)
            now = await _step_through(deriver, now, now + 120 * S)
        span = (T0 - 3600 * S, T0 + 86400 * S)
        got_kwh = await store.query(SeriesQuery(ENERGY, "kwh", *span, where={"flow": ["import"]}))
        got_q = await store.query(SeriesQuery(ENERGY, "quality", *span, where={"flow": ["import"]}))
    finally:
        await store.aclose()
    assert len(got_kwh) == 1 and len(got_q) == 1
    got = {
        t: (float(k), str(q))
        for t, k, q in zip(got_kwh[0].times, got_kwh[0].values, got_q[0].values, strict=True)
    }
    want = _expected(case)
    assert sorted(got) == sorted(want), "exactly the expected windows are written"
    tol = float(case.get("tolerance_kwh", 1e-9))
    wrong = {
        (t - T0) // S: (got[t], want[t])
        for t in want
        if abs(got[t][0] - want[t][0]) > tol or got[t][1] != want[t][1]
    }
    assert not wrong, f"{name}: window start s -> (got, expected): {wrong}"
