"""The suite's schedule (tests/conftest.py): the long files it starts first exist, and the
reordering keeps each file's tests together and in order, the long ones first."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import LONG_FILES_FIRST, REPO, long_files_first


def test_every_long_file_listed_exists() -> None:
    missing = [name for name in LONG_FILES_FIRST if not (REPO / name).is_file()]
    assert not missing, f"renamed or removed, update LONG_FILES_FIRST: {missing}"
    assert len(set(LONG_FILES_FIRST)) == len(LONG_FILES_FIRST)


@dataclass
class FakeItem:
    path: Path
    name: str


def test_long_files_go_first_each_file_kept_together_in_order() -> None:
    short_a, short_b = REPO / "tests/unit/a.py", REPO / "tests/unit/b.py"
    first, second = (REPO / name for name in LONG_FILES_FIRST[:2])
    collected = [
        FakeItem(short_a, "a1"),
        FakeItem(second, "s1"),
        FakeItem(short_b, "b1"),
        FakeItem(first, "f1"),
        FakeItem(second, "s2"),
        FakeItem(short_a, "a2"),
        FakeItem(first, "f2"),
    ]
    items: list[Any] = list(collected)
    long_files_first(items)
    assert [i.name for i in items] == ["f1", "f2", "s1", "s2", "a1", "b1", "a2"]
