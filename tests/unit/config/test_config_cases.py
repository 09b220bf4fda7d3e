"""`peakline config check` against the example configs and broken copies kept as data.

Each folder under tests/cases/config/ (except _base) holds only the files it changes relative to
_base/ and an expected.txt: the exact line (file: path: message) the check must print.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from peakline_cli.main import app
from peakline_cli.reference import render_reference
from peakline_core.config import load_config
from peakline_core.config.schema import config_schemas, render
from peakline_core.errors import ConfigError

CASES = Path(__file__).resolve().parents[2] / "cases" / "config"
REPO = CASES.parents[2]
BROKEN = sorted(p.name for p in CASES.iterdir() if p.is_dir() and p.name != "_base")


def build_case(name: str, tmp_path: Path) -> Path:
    target = tmp_path / name
    shutil.copytree(CASES / "_base", target)
    for item in (CASES / name).rglob("*"):
        if item.is_file() and item.name != "expected.txt":
            dest = target / item.relative_to(CASES / name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(item, dest)
    return target


def test_base_case_is_valid() -> None:
    config = load_config(CASES / "_base")
    assert set(config.devices) == {"m1"}


def test_there_are_at_least_ten_broken_cases() -> None:
    assert len(BROKEN) >= 10


@pytest.mark.parametrize("name", BROKEN)
def test_broken_config_fails_with_precise_message(name: str, tmp_path: Path) -> None:
    expected = (CASES / name / "expected.txt").read_text().strip()
    result = CliRunner().invoke(app, ["config", "check", str(build_case(name, tmp_path))])
    assert result.exit_code == 1, result.output
    assert expected in result.output, result.output


def test_every_issue_is_reported_not_only_the_first(tmp_path: Path) -> None:
    root = build_case("unknown-site", tmp_path)
    (root / "agents.yaml").write_text("agents:\n  - {id: gw1, spool: {max_byte: 1}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(root)
    files = {file for file, _, _ in info.value.issues}
    assert files == {"agents.yaml"}  # a broken agents file stops cross-checks that need it
    (root / "agents.yaml").write_text("agents:\n  - {id: gw1}\n")
    (root / "sites.yaml").write_text(
        "sites:\n  - {id: s1, name: x, city: nope, district: d1, floor_area_m2: 1,"
        " grid_region: R}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(root)
    assert {(file, where) for file, where, _ in info.value.issues} == {
        ("sites.yaml", "sites[0].city"),
        ("devices.yaml", "devices[0].site"),
    }


def test_example_config_passes_the_real_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "peakline_cli.main", "config", "check", str(REPO / "config")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["config", "check", str(tmp_path / "absent")])
    assert result.exit_code == 1
    assert "not a directory" in result.output


def test_json_schema_in_config_schema_is_current() -> None:
    """config/schema/*.json must be regenerated (make schema) whenever the models change."""
    for name, schema in config_schemas().items():
        path = REPO / "config" / "schema" / name
        assert path.exists(), f"{path} missing: run make schema"
        assert path.read_text() == render(schema), f"{path} is stale: run make schema"


def test_configuration_reference_is_current() -> None:
    """docs/configuration.md is generated from the models (make schema regenerates it)."""
    path = REPO / "docs" / "configuration.md"
    assert path.read_text() == render_reference(), f"{path} is stale: run make schema"
