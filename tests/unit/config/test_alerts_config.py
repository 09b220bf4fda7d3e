"""alerts.yaml (issue 22): optional, validated with the rest, cross-checked against the places."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from peakline_core.config import load_config
from peakline_core.errors import ConfigError

CASES = Path(__file__).resolve().parents[2] / "cases" / "config"
REPO = CASES.parents[2]


def _base(tmp_path: Path, alerts: str) -> Path:
    root = tmp_path / "cfg"
    shutil.copytree(CASES / "_base", root)
    (root / "alerts.yaml").write_text(alerts, encoding="utf-8")
    return root


def test_without_the_file_there_are_no_rules() -> None:
    assert load_config(CASES / "_base").alerts.rules == []


def test_an_empty_file_has_no_rules(tmp_path: Path) -> None:
    assert load_config(_base(tmp_path, "# rules come later\n")).alerts.rules == []


def test_example_rules_load_with_every_condition_kind() -> None:
    alerts = load_config(REPO / "config").alerts
    kinds = {r.condition.kind for r in alerts.rules}
    assert kinds == {
        "threshold",
        "no_data",
        "anomaly",
        "daily_energy",
        "daily_emissions",
        "city_month",
        "spool_backlog",
        "command",
    }
    assert {c.kind for c in alerts.channels} == {"wecom", "email"}


def test_every_problem_in_the_file_is_reported(tmp_path: Path) -> None:
    root = _base(
        tmp_path,
        """
channels:
  - {id: mail, city: c2, kind: email, recipients: [ops@example.org]}
rules:
  - {id: r1, name: a, scope: {city: c1, device: nope}, condition: {kind: no_data, minutes: 5}}
  - {id: r1, name: b, scope: {city: c1}, condition: {kind: daily_energy, baseline_kwh: 10}}
""",
    )
    with pytest.raises(ConfigError) as info:
        load_config(root)
    assert {(f, w) for f, w, _ in info.value.issues} == {
        ("alerts.yaml", "channels[0].city"),
        ("alerts.yaml", "rules[0].scope.device"),
        ("alerts.yaml", "rules[1].id"),
        ("alerts.yaml", "rules[1].scope.site"),
    }


def test_a_channel_of_another_city_is_refused(tmp_path: Path) -> None:
    root = _base(tmp_path, "")
    (root / "programme.yaml").write_text(
        "id: p\nname: P\ncities: [{id: c1, name: One}, {id: c2, name: Two}]\n"
        "districts: [{id: d1, city: c1, name: D}]\n"
    )
    (root / "alerts.yaml").write_text(
        "channels: [{id: feishu2, city: c2, kind: feishu, url: 'https://open.feishu.cn/x'}]\n"
        "rules: [{id: r, name: r, scope: {city: c1}, condition: {kind: command},"
        " channels: [feishu2]}]\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(root)
    assert info.value.issues == [
        ("alerts.yaml", "rules[0].channels[0]", "channel 'feishu2' belongs to city 'c2', not 'c1'")
    ]
