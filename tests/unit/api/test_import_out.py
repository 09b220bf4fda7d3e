"""The import endpoints' typed answer (issue 25) is the store's `ImportPlan.summary`, every key
and value, plus the upload's id and whether and how much it wrote."""

from __future__ import annotations

import json

from peakline_api.routers.imports import import_out
from peakline_core.importing import ImportedRow, ParseResult, RowError
from peakline_store.importing import ImportPlan


def plan() -> ImportPlan:
    result = ParseResult(errors=[RowError(7, "kwh", "a number", "n/a")], notes=["DST"])
    result.add([ImportedRow(0, 900 * 10**9, 1.5, 2), ImportedRow(900 * 10**9, 900 * 10**9, 2.5, 3)])
    return ImportPlan(
        "interval", "usage.csv", "ab" * 32, "rt-office", "office-meter", "import", result,
        n_new=1, n_changed=1, unchanged=3, live=0, written=2, committed_before=[5],
        bills=None, cost=None,
    )  # fmt: skip


def test_an_upload_answers_the_plan_summary_unwritten() -> None:
    p = plan()
    got = import_out("id1", p, committed=False).model_dump(mode="json")
    want = json.loads(json.dumps({"id": "id1", **p.summary(), "committed": False, "written": None}))
    assert got == want
    assert got["span"] is not None and got["errors"][0]["line"] == 7  # nested parts compared


def test_a_commit_answers_what_it_wrote() -> None:
    got = import_out("id1", plan(), committed=True)
    assert got.committed and got.written == 2
