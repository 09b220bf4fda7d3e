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
