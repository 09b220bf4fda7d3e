"""Bad input, configuration files: hypothesis mutations of the example district (config/) fed
to `load_config` and to `peakline config check`. The only failure is a ConfigError whose
issues each name the file, the path inside it and a message; never another exception.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from peakline_cli.main import app
from peakline_core.config import load_config
from peakline_core.errors import ConfigError
from tests.integration.reliability.config_mutations import damaged_text, mutated_tree

EXAMPLE = Path(__file__).resolve().parents[3] / "config"
FILES = sorted(
    str(p.relative_to(EXAMPLE))
    for pattern in ("*.yaml", "profiles/*.yaml", "emission-factors/*.yaml")
    for p in EXAMPLE.glob(pattern)
)
TREES = {name: yaml.safe_load((EXAMPLE / name).read_text()) for name in FILES}
pytestmark = pytest.mark.slow  # load_config parses ~15 files per example: ~5 s per test idle
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def _copy() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "config"
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("schema", "scenarios"))
        yield root


@contextmanager
def _changed(root: Path, files: dict[str, bytes]) -> Iterator[Path]:
    """`root` with `files` replaced for the block, restored afterwards (one copy per test)."""
    try:
        for name, body in files.items():
            (root / name).write_bytes(body)
        yield root
    finally:
        for name in files:
            shutil.copy(EXAMPLE / name, root / name)


def _dump(tree: object) -> bytes:
    return yaml.safe_dump(tree, allow_unicode=True).encode()


def _check(root: Path) -> None:
    """load_config either succeeds or raises ConfigError with (file, path, message) issues."""
    try:
        load_config(root)
    except ConfigError as exc:
        assert exc.issues
        for file, where, message in exc.issues:
            assert isinstance(file, str) and isinstance(where, str), exc.issues
            assert isinstance(message, str) and message, exc.issues
            assert (root / file).exists(), file  # names a real file of the directory


def test_mutated_yaml_trees_fail_only_with_config_errors() -> None:
    with _copy() as root:

        @SETTINGS
        @given(st.data())
        def run(data: st.DataObject) -> None:
            names = data.draw(st.lists(st.sampled_from(FILES), min_size=1, max_size=2))
            files = {name: _dump(data.draw(mutated_tree(TREES[name]))) for name in names}
            with _changed(root, files):
                _check(root)

        run()


def test_damaged_files_fail_only_with_config_errors() -> None:
    with _copy() as root:

        @SETTINGS
        @given(st.data())
        def run(data: st.DataObject) -> None:
            name = data.draw(st.sampled_from(FILES))
            body = data.draw(damaged_text((EXAMPLE / name).read_bytes()))
            with _changed(root, {name: body}):
                _check(root)

        run()


def test_config_check_command_reports_instead_of_crashing() -> None:
    with _copy() as root:

        @settings(max_examples=15, deadline=None)
        @given(st.data())
        def run(data: st.DataObject) -> None:
            name = data.draw(st.sampled_from(FILES))
            if data.draw(st.booleans()):
                body = data.draw(damaged_text((EXAMPLE / name).read_bytes()))
            else:
                body = _dump(data.draw(mutated_tree(TREES[name])))
            with _changed(root, {name: body}):
                result = CliRunner().invoke(app, ["config", "check", str(root)])
            assert result.exit_code in (0, 1), result.output
            assert result.exception is None or isinstance(result.exception, SystemExit)
            if result.exit_code == 1:
                assert "problem(s)" in result.output

        run()
