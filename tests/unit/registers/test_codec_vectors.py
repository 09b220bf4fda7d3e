"""Known answers for the register codec: each file under tests/cases/codec/ holds one dtype's
value and its registers, as literal hex words, in every byte order (Telegraf's names and
layouts). Decoding and encoding are both checked, so a mistake made the same way in both
directions, which a round trip cannot see, fails here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from peakline_core.config.profiles import ByteOrder, DataType, ModbusPoint, ModbusProfile
from peakline_core.registers import BlockDecoder, decode_value, encode_value

CASES = Path(__file__).resolve().parents[2] / "cases" / "codec"


def _vectors() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for case in doc["cases"]:
            out.append(
                pytest.param(
                    DataType(doc["dtype"]),
                    ByteOrder(case["byte_order"]),
                    case["registers"],
                    doc["value"],
                    id=f"{doc['dtype']}-{case['byte_order']}",
                )
            )
    return out


VECTORS = _vectors()


def test_every_dtype_and_byte_order_has_a_vector() -> None:
    numeric = {d for d in DataType if d not in (DataType.BOOL, DataType.BIT, DataType.STRING)}
    have = {(p.values[0], p.values[1]) for p in VECTORS}
    assert have == {(d, o) for d in numeric for o in ByteOrder}


@pytest.mark.parametrize(("dtype", "order", "registers", "value"), VECTORS)
def test_known_answer(
    dtype: DataType, order: ByteOrder, registers: list[int], value: float
) -> None:
    point = ModbusPoint.model_validate(
        {"name": "p", "table": "holding", "address": 0, "dtype": dtype, "byte_order": order}
    )
    assert decode_value(point, registers) == value
    assert BlockDecoder([point], 0).decode(np.asarray(registers, np.uint16))[0] == value
    assert encode_value(point, value) == registers


PROFILES = Path(__file__).resolve().parents[3] / "config" / "profiles"
PROFILE_CASES = CASES / "profiles"


def _profile_vectors() -> list[Any]:
    out = []
    for path in sorted(PROFILE_CASES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        profile = ModbusProfile.model_validate(
            yaml.safe_load((PROFILES / f"{doc['profile']}.yaml").read_text())
        )
        points = {p.name: p for p in profile.points}
        for i, case in enumerate(doc["points"]):
            out.append(
                pytest.param(
                    points[case["name"]],
                    case["registers"],
                    case.get("sf", 0),
                    case["value"],
                    id=f"{doc['profile']}-{case['name']}-{i}",
                )
            )
    return out


@pytest.mark.parametrize(("point", "registers", "sf", "value"), _profile_vectors())
def test_profile_known_answer(
    point: ModbusPoint, registers: list[int], sf: int, value: float | bool | str | None
) -> None:
    """A profile's registers in, the engineering value out (and back, unless 'no reading')."""
    decoded = decode_value(point, registers, sf)
    if value is None or isinstance(value, bool | str):
        assert decoded == value
    else:
        assert decoded == pytest.approx(value, rel=1e-12)
    if value is not None:
        assert encode_value(point, value, sf) == registers
