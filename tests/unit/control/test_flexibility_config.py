"""Site flexibility in config: the example district loads; bad references name their place."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from peakline_core.config import load_config
from peakline_core.errors import ConfigError
from peakline_testing.configs import copy_example


def test_example_district_flexibility_loads(repo_root: Path) -> None:
    config = load_config(repo_root / "config")
    office = config.sites["rt-office"]
    assert office.meter == "office-meter"
    assert [f.kind for f in office.flexibility] == ["setpoint_offset", "deferrable"]


@pytest.mark.parametrize(
    ("flex", "path", "message"),
    [
        ({"device": "office-hvac", "point": "setpoint", "kind": "setpoint_offset", "offset": 1,
          "kw_per_unit": 1}, "flexibility[0].device", "no device 'office-hvac' here"),
        ({"device": "school-hvac", "point": "zone_temp", "kind": "setpoint_offset", "offset": 1,
          "kw_per_unit": 1}, "flexibility[0].point", "not writable"),
        ({"device": "school-hvac", "point": "setpoint", "kind": "setpoint_offset"},
         "flexibility[0]", "setpoint_offset needs"),
    ],
)  # fmt: skip
def test_bad_flexibility_is_a_config_error(
    tmp_path: Path, repo_root: Path, flex: dict[str, object], path: str, message: str
) -> None:
    root = tmp_path / "config"
    copy_example(root)
    sites = yaml.safe_load((root / "sites.yaml").read_text())
    sites["sites"][0]["flexibility"] = [flex]  # rt-school
    (root / "sites.yaml").write_text(yaml.safe_dump(sites))
    with pytest.raises(ConfigError) as info:
        load_config(root)
    assert any(
        file == "sites.yaml" and path in where and message in text
        for file, where, text in info.value.issues
    ), info.value.issues
