"""Register planning as data: each folder under tests/cases/planner/ holds a profile.yaml, an
optional options.yaml (unit_id, max_registers, max_gap, cuts, due points) and expected.yaml
(the requests, in order, with the names of the points each one carries)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from peakline_core.config.profiles import ModbusProfile, RegisterType
from peakline_core.errors import RegisterError
from peakline_core.registers import (
    PlanLimits,
    ReadRequest,
    plan_reads,
    split_request,
    with_scale_factors,
)

CASES = Path(__file__).resolve().parents[2] / "cases" / "planner"
NAMES = sorted(p.name for p in CASES.iterdir() if p.is_dir())


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) if path.exists() else {}


def _plan(case: Path) -> list[ReadRequest]:
    profile = ModbusProfile.model_validate(_load(case / "profile.yaml"))
    options = _load(case / "options.yaml")
    points = profile.points
    if "due" in options:
        points = with_scale_factors(profile, [profile.point(n) for n in options["due"]])
    limits = PlanLimits.of(profile, options.get("max_registers"), options.get("max_gap"))
    cuts = [(RegisterType(t), int(a)) for t, a in options.get("cuts", [])]
    return plan_reads(points, unit_id=options.get("unit_id", 1), limits=limits, cuts=cuts)


def _as_data(requests: list[ReadRequest]) -> list[dict[str, Any]]:
    return [
        {
            "table": r.table.value,
            "unit_id": r.unit_id,
            "address": r.address,
            "count": r.count,
            "points": [p.name for p in r.points],
        }
        for r in requests
    ]


def test_there_are_cases() -> None:
    assert len(NAMES) >= 10


@pytest.mark.parametrize("name", NAMES)
def test_plan_matches_expected(name: str) -> None:
    expected = _load(CASES / name / "expected.yaml")["requests"]
    assert _as_data(_plan(CASES / name)) == expected


@pytest.mark.parametrize("name", NAMES)
def test_plan_covers_every_point_once_within_limits(name: str) -> None:
    profile = ModbusProfile.model_validate(_load(CASES / name / "profile.yaml"))
    requests = _plan(CASES / name)
    seen = [p.name for r in requests for p in r.points]
    assert len(seen) == len(set(seen))
    for r in requests:
        limit = profile.max_block_bits if r.table.is_bit else 125
        widest = max(p.width for p in r.points)
        assert r.count <= max(limit, widest)
        for p in r.points:
            assert r.address <= p.address and p.address + p.width <= r.end


def _wide_profile() -> ModbusProfile:
    return ModbusProfile.model_validate(
        {
            "name": "wide",
            "kind": "meter",
            "points": [
                {"name": f"p{i}", "table": "holding", "address": 3 * i, "dtype": "uint16"}
                for i in range(8)
            ],
        }
    )


def test_split_halves_at_a_point_boundary_and_the_cut_is_remembered() -> None:
    profile = _wide_profile()
    [whole] = plan_reads(profile.points)
    low, high, cut = split_request(whole)
    assert [p.name for p in low.points] == ["p0", "p1", "p2", "p3"]
    assert [p.name for p in high.points] == ["p4", "p5", "p6", "p7"]
    assert (low.address, low.count, high.address, high.count) == (0, 10, 12, 10)
    assert cut == (RegisterType.HOLDING, 12)
    replanned = plan_reads(profile.points, cuts=[cut])
    assert [(r.address, r.count) for r in replanned] == [(0, 10), (12, 10)]


def test_a_single_address_request_cannot_be_split() -> None:
    [one] = plan_reads(_wide_profile().points[:1])
    with pytest.raises(RegisterError):
        split_request(one)


def test_repeated_splitting_isolates_the_bad_register() -> None:
    """Splitting until no block covers address 10 (unimplemented) leaves every point readable."""
    profile = _wide_profile()
    cuts: list[tuple[RegisterType, int]] = []
    for _ in range(10):
        bad = [r for r in plan_reads(profile.points, cuts=cuts) if r.address <= 10 < r.end]
        if not bad:
            break
        _, _, cut = split_request(bad[0])
        cuts.append(cut)
    final = plan_reads(profile.points, cuts=cuts)
    assert all(not (r.address <= 10 < r.end) for r in final)
    assert sorted(p.name for r in final for p in r.points) == [f"p{i}" for i in range(8)]


def test_limits_reject_out_of_range() -> None:
    with pytest.raises(RegisterError):
        PlanLimits(max_registers=126)
    with pytest.raises(RegisterError):
        PlanLimits(max_gap=-1)
