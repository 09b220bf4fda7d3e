"""BacnetProfile: what `peakline bacnet discover` writes and the installer edits."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from peakline_core.config.profiles import BacnetProfile

AHU = {
    "name": "ahu",
    "kind": "hvac",
    "points": [
        {"name": "supply_temp", "object_type": "analog-input", "instance": 1, "unit": "degC"},
        {"name": "zone_setpoint", "object_type": "analog-value", "instance": 1, "unit": "degC",
         "writable": {"min": 16, "max": 28}},
    ],
}  # fmt: skip


def test_a_reviewed_profile_writes_at_the_manual_operator_priority() -> None:
    profile = BacnetProfile.model_validate(AHU)
    assert profile.protocol == "bacnet"
    assert [p.priority for p in profile.points] == [8, 8]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"writable": {"min": 0, "max": 1}}, "a analog-input cannot be writable"),
        ({"name": "zone_setpoint"}, "duplicate point names"),
        ({"object_type": "analog-value"}, "two points name the same object"),
        ({"priority": 17}, "less than or equal to 16"),
    ],
)
def test_bad_points_are_refused(change: dict[str, object], message: str) -> None:
    points = [{**AHU["points"][0], **change}, AHU["points"][1]]  # type: ignore[index, dict-item]
    with pytest.raises(ValidationError, match=message):
        BacnetProfile.model_validate({**AHU, "points": points})


MODE = {"name": "occupancy_mode", "object_type": "multi-state-value", "instance": 1,
        "states": ["occupied", "unoccupied", "standby"]}  # fmt: skip
FAN = {"name": "fan_enable", "object_type": "binary-value", "instance": 1}


def test_binary_and_multi_state_points_with_their_limits() -> None:
    points = [
        {**MODE, "writable": {"min": 1, "max": 3, "step": 1}},
        {**FAN, "states": ["off", "on"], "writable": {"min": 0, "max": 1}},
        {"name": "mode_in", "object_type": "multi-state-input", "instance": 2},
    ]
    profile = BacnetProfile.model_validate({**AHU, "points": points})
    assert profile.point("occupancy_mode").states == ["occupied", "unoccupied", "standby"]


@pytest.mark.parametrize(
    ("point", "message"),
    [
        ({**MODE, "writable": {"min": 1, "max": 4}}, r"states are 1\.\.3"),
        ({**MODE, "states": [], "writable": {"min": 0, "max": 3}}, r"states are 1\.\.N"),
        ({**FAN, "writable": {"min": 0, "max": 2}}, r"within \[0, 1\]"),
        ({**FAN, "states": ["off", "on", "auto"]}, "inactive text, active text"),
        ({**AHU["points"][0], "states": ["a"]}, "has no states"),  # type: ignore[dict-item]
        ({**FAN, "object_type": "binary-input", "writable": {"min": 0, "max": 1}}, "cannot be"),
    ],
)
def test_limits_must_fit_the_object_type(point: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BacnetProfile.model_validate({**AHU, "points": [point]})
