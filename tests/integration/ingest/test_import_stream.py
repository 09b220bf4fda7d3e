"""The streamed import (`import_file`, the CLI's and the API's path) against SQLite and a
real influxd, with chunks of a few rows so every file spans many: a chunked commit lands
the same rows and ledger as a one-chunk commit, a re-import cut at other boundaries writes
nothing, a corrected file replaces its span (a dropped row falling between two chunks is
cleared), a dry run writes nothing, a bad row keeps its line, and a file overlapping live
energy in a later chunk writes nothing at all."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from peakline_core.importing import IntervalSpec
from peakline_core.storage import Row, SeriesQuery
from peakline_core.storage.schema import ENERGY, IMPORT_LEDGER, LATE_DATA
from peakline_store.importing import ImportRefused, import_file
from peakline_store.importing import plan as plan_module

REPO = Path(__file__).resolve().parents[3]
CASES = REPO / "tests" / "cases" / "import"
S = 1_000_000_000
COMMIT_AT = 1_767_225_600 * S
NY = IntervalSpec(timezone="America/New_York")
EVERYTHING = (0, 2**62)
FIELDS = ("kwh", "estimated_kwh", "suspect_kwh", "covered_s", "suspect_n", "quality", "source")
LEDGER = ("file", "sha256", "kind", "rows", "written", "from_ns", "to_ns", "total")
DST = CASES / "utility_15min_dst.csv"
FIXED = CASES / "utility_15min_dst_corrected.csv"


async def run(store, path: Path, device: str, n: int, write: bool, at: int = COMMIT_AT, **kw):
    return await import_file(
        store, "interval", path.name, path, "s1", device, "import", NY,
        write=write, chunk_rows=n, clock_ns=lambda: at, **kw,
    )  # fmt: skip


async def fields(store, measurement: str, names: tuple[str, ...], device: str) -> dict:
    out: dict[str, list] = {}
    for name in names:
        got = await store.query(SeriesQuery(measurement, name, *EVERYTHING, {"device": [device]}))
        out[name] = [(int(t), v) for s in got for t, v in zip(s.times, s.values, strict=True)]
    return out


async def test_a_chunked_commit_lands_what_one_chunk_lands(store) -> None:
    want = json.loads((CASES / "utility_15min_dst.expected.json").read_text())
    seen: list[tuple[str, int, int]] = []
    whole = await run(store, DST, "m-whole", 10_000, write=True)
    chunked = await run(store, DST, "m-chunked", 7, write=True, progress=lambda *a: seen.append(a))
    assert whole.written == chunked.written == want["rows"]
    assert chunked.summary() | {"device": "m-whole"} == whole.summary()
    assert await fields(store, ENERGY, FIELDS, "m-chunked") == await fields(
        store, ENERGY, FIELDS, "m-whole"
    )
    assert await fields(store, IMPORT_LEDGER, LEDGER, "m-chunked") == await fields(
        store, IMPORT_LEDGER, LEDGER, "m-whole"
    )
    # the progress ran over the file's bytes, once to check and once to write: after each
    # of the 28 chunks of 7 rows (196 rows) and after the parse's end
    size = DST.stat().st_size
    assert [p for p, _, _ in seen].count("check") == 29 == [p for p, _, _ in seen].count("write")
    assert seen[-1] == ("write", size, size) and seen[28] == ("check", size, size)
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(seen[:29]))


async def test_re_import_at_other_boundaries_and_a_correction_across_them(store) -> None:
    want = json.loads((CASES / "utility_15min_dst.expected.json").read_text())
    c = want["corrected"]
    await run(store, DST, "m1", 7, write=True)
    again = await run(store, DST, "m1", 13, write=True, at=COMMIT_AT + S)
    assert (again.written, again.unchanged) == (0, want["rows"])
    assert again.committed_before == [COMMIT_AT]

    before = await fields(store, ENERGY, FIELDS, "m1")
    # the corrected file drops its line 51 slot (12:15): with 7-row chunks the dropped
    # interval falls between chunk 7 (lines 44-50) and chunk 8 (lines 51-57)
    dry = await run(store, FIXED, "m1", 7, write=False)
    assert (dry.n_changed, dry.n_cleared, dry.n_new) == (c["changed"], c["cleared"], 0)
    assert dry.n_relabelled == c["rows"] - c["changed"] and dry.written == 0
    assert await fields(store, ENERGY, FIELDS, "m1") == before  # a dry run writes nothing

    fixed = await run(store, FIXED, "m1", 7, write=True, at=COMMIT_AT + 2 * S)
    assert fixed.written == c["rows"] + c["cleared"]
    kwh = await fields(store, ENERGY, ("kwh", "source"), "m1")
    assert sum(v for _, v in kwh["kwh"]) == pytest.approx(c["total_kwh"], abs=1e-9)
    assert [s for _, s in kwh["source"]].count("utility_15min_dst_corrected.csv:cleared") == 1
    assert (await run(store, FIXED, "m1", 3, write=True)).written == 0


async def test_bad_rows_keep_their_lines_and_live_energy_in_a_later_chunk_refuses_all(
    store,
) -> None:
    want = json.loads((CASES / "bad_rows.expected.json").read_text())
    path = CASES / "bad_rows.csv"
    plan = await run(store, path, "m1", 2, write=False)
    assert [e.line for e in plan.result.errors] == [e["line"] for e in want["errors"]]
    assert plan.n_new == want["rows"] and plan.result.total == pytest.approx(want["total_kwh"])

    last = plan.result.span
    assert last is not None
    tags = {"site": "s1", "device": "m1", "flow": "import"}
    await store.write([Row(ENERGY, tags, {"kwh": 0.3, "quality": "measured"}, last[1] - 900 * S)])
    with pytest.raises(ImportRefused, match="live readings"):
        await run(store, path, "m1", 2, write=True)
    got = await fields(store, ENERGY, ("kwh",), "m1")
    assert got["kwh"] == [(last[1] - 900 * S, 0.3)]  # the live row only: nothing written
    assert await fields(store, IMPORT_LEDGER, ("rows",), "m1") == {"rows": []}


async def test_an_import_stopped_before_its_ledger_row_is_rolled_up_when_run_again(
    store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after its rows but before its ledger row and mark, the import is run again:
    it writes no energy row (all are there) but still marks its span for the deriver."""
    real = plan_module._record

    async def killed(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt  # the CLI stopped between the last chunk and the ledger row

    monkeypatch.setattr(plan_module, "_record", killed)
    with pytest.raises(KeyboardInterrupt):
        await run(store, DST, "m1", 7, write=True)
    marks = {"device": ["import:m1"]}
    got = await store.query(SeriesQuery(LATE_DATA, "from_ns", *EVERYTHING, marks))
    assert not got or not any(len(s.times) for s in got)

    monkeypatch.setattr(plan_module, "_record", real)
    again = await run(store, DST, "m1", 7, write=True, at=COMMIT_AT + S)
    assert again.written == 0 and again.committed_before == []
    got = await store.query(SeriesQuery(LATE_DATA, "from_ns", *EVERYTHING, marks))
    assert sum(len(s.times) for s in got) == 1
    # A third run, with the ledger row now there, marks nothing more.
    await run(store, DST, "m1", 7, write=True, at=COMMIT_AT + 2 * S)
    got = await store.query(SeriesQuery(LATE_DATA, "from_ns", *EVERYTHING, marks))
    assert sum(len(s.times) for s in got) == 1
