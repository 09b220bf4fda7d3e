"""`peakline import` in process against a SQLite file: a dry run writes nothing and exits 1
when rows were refused, `--commit` writes, and a second commit writes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peakline_cli.main import app

CASES = Path(__file__).resolve().parents[2] / "cases" / "import"
RUN = CliRunner()


def run(store: Path, name: str, *extra: str) -> tuple[int, dict]:
    args = [
        "import",
        "interval",
        str(CASES / name),
        "--store",
        f"sqlite:///{store}",
        "--site",
        "s1",
        "--device",
        "m1",
        "--point",
        "energy_import_kwh",
        "--timezone",
        "America/New_York",
        "--json",
        *extra,
    ]
    out = RUN.invoke(app, args)
    return out.exit_code, json.loads(out.stdout)


def test_dry_run_commit_and_recommit(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    code, report = run(db, "bad_rows.csv")
    assert code == 1 and report["written"] is None and len(report["errors"]) == 7
    code, report = run(db, "bad_rows.csv")
    assert report["new"] == 7  # the dry run wrote nothing
    code, report = run(db, "bad_rows.csv", "--commit")
    assert code == 0 and report["written"] == 7
    code, report = run(db, "bad_rows.csv", "--commit")
    assert report["written"] == 0 and report["unchanged"] == 7


def test_column_mapping_and_unit_are_taken(tmp_path: Path) -> None:
    _, report = run(
        tmp_path / "s.db",
        "bad_rows.csv",
        "--column",
        "ts=Interval Start",
        "--column",
        "value=kWh",
        "--unit",
        "MWh",
    )
    assert report["unit"] == "mwh" and report["total"] == pytest.approx(6780.0)


def test_a_file_error_exits_2(tmp_path: Path) -> None:
    out = RUN.invoke(
        app,
        [
            "import",
            "interval",
            str(CASES / "bad_rows.csv"),
            "--store",
            f"sqlite:///{tmp_path / 's.db'}",
            "--site",
            "s1",
            "--device",
            "m1",
            "--point",
            "energy_import_kwh",
        ],
    )
    assert out.exit_code == 2 and "--timezone" in out.stdout


def test_bills_dry_run(tmp_path: Path) -> None:
    args = [
        "import",
        "bills",
        str(CASES / "bills_24_months.csv"),
        "--store",
        f"sqlite:///{tmp_path / 's.db'}",
        "--site",
        "s1",
        "--device",
        "g1",
        "--point",
        "gas",
        "--flow",
        "fuel:natural_gas",
        "--stored-unit",
        "kWh",
        "--json",
    ]
    out = RUN.invoke(app, args)
    report = json.loads(out.stdout)
    assert out.exit_code == 0 and report["bills"] == 24 and report["rows"] == 736
    assert report["cost"] > 0 and report["errors"] == []
