"""Known answers for the register codec, from the data files under tests/cases/codec/.

Each dtype file pins one value in every byte order (Telegraf's names and layouts) as literal hex
words, plus edge vectors (min/max, negatives, infinities, NaN as 'no reading'); bit.yaml pins
bit and bool points. profiles/*.yaml hold each shipped Modbus profile's registers at an
operating point and the engineering values out. The words were written by hand from the
IEEE-754 and two's-complement definitions, never produced by our encoder, and every vector is
checked by decoding and by encoding, so a mistake made the same way in both directions, which a
round trip cannot see, fails here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from peakline_core.config.profiles import ByteOrder, DataType, ModbusPoint, ModbusProfile
from peakline_core.registers import BlockDecoder, decode_value, encode_value

CASES = Path(__file__).resolve().parents[2] / "cases" / "codec"
PROFILES = Path(__file__).resolve().parents[3] / "config" / "profiles"
PROFILE_CASES = CASES / "profiles"
BITWISE = (DataType.BOOL, DataType.BIT)


def _point(dtype: DataType, order: ByteOrder = ByteOrder.ABCD, **extra: Any) -> ModbusPoint:
    return ModbusPoint.model_validate(
        {"name": "p", "table": "holding", "address": 0, "dtype": dtype, "byte_order": order} | extra
    )


def _vectors() -> list[Any]:
    out = []
    for path in sorted(CASES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if "dtype" not in doc:
            continue
        extra = {"count": doc["count"]} if "count" in doc else {}
        rows = [c | {"value": doc["value"]} for c in doc["cases"]] + doc.get("edges", [])
        for i, case in enumerate(rows):
            order = ByteOrder(case["byte_order"])
            out.append(
                pytest.param(
                    _point(DataType(doc["dtype"]), order, **extra),
                    case["registers"],
                    case["value"],
                    case.get("decode_only", False),
                    id=f"{doc['dtype']}-{order}-{i}",
                )
            )
    return out


VECTORS = _vectors()


def test_every_dtype_and_byte_order_has_a_vector() -> None:
    """Adding a dtype or a byte order without known answers for it fails here."""
    have = {(p.values[0].dtype, p.values[0].byte_order) for p in VECTORS}
    want = {(d, o) for d in DataType if d not in BITWISE for o in ByteOrder}
    assert have == want
    bitwise = yaml.safe_load((CASES / "bit.yaml").read_text())["cases"]
    assert {DataType(c["dtype"]) for c in bitwise} == set(BITWISE)


@pytest.mark.parametrize(("point", "registers", "value", "decode_only"), VECTORS)
def test_known_answer(
    point: ModbusPoint, registers: list[int], value: Any, decode_only: bool
) -> None:
    decoded = decode_value(point, registers)
    assert decoded == value
    assert value is None or isinstance(decoded, type(value)) or isinstance(value, int)
    if point.dtype is not DataType.STRING:
        block = BlockDecoder([point], 0).decode(np.asarray(registers, np.uint16))[0]
        assert math.isnan(block) if value is None else block == value
    if value is not None and not decode_only:
        assert encode_value(point, value) == registers


def _bit_vectors() -> list[Any]:
    doc = yaml.safe_load((CASES / "bit.yaml").read_text())
    return [
        pytest.param(c, id=f"{c['dtype']}-{c.get('bit', '')}-{c['registers'][0]:04X}")
        for c in doc["cases"]
    ]


@pytest.mark.parametrize("case", _bit_vectors())
def test_bit_known_answer(case: dict[str, Any]) -> None:
    extra = {"bit": case["bit"]} if "bit" in case else {}
    point = _point(DataType(case["dtype"]), **extra)
    assert decode_value(point, case["registers"]) is case["value"]
    block = BlockDecoder([point], 0).decode(np.asarray(case["registers"], np.uint16))[0]
    assert block == float(case["value"])
    if not case.get("decode_only"):
        assert encode_value(point, case["value"]) == case["registers"]


def _profile(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((PROFILES / f"{name}.yaml").read_text())
    return doc


def test_every_modbus_profile_has_cases() -> None:
    """A shipped Modbus profile without known answers fails (MQTT profiles have no registers)."""
    modbus = {p.stem for p in PROFILES.glob("*.yaml") if _profile(p.stem)["protocol"] == "modbus"}
    assert {p.stem for p in PROFILE_CASES.glob("*.yaml")} == modbus


def _profile_vectors() -> list[Any]:
    out = []
    for path in sorted(PROFILE_CASES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        profile = ModbusProfile.model_validate(_profile(doc["profile"]))
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
    """A profile's registers in, the engineering value out, by both paths the edge agent uses
    (BlockDecoder for a block of numeric points, decode_value for strings and bits), and back
    (unless the registers say 'no reading')."""
    decoded = decode_value(point, registers, sf)
    if value is None or isinstance(value, bool | str):
        assert decoded == value
    else:
        assert decoded == pytest.approx(value, rel=1e-12)
    if not point.table.is_bit and point.dtype is not DataType.STRING:
        regs = np.asarray(registers, np.uint16)
        block = BlockDecoder([point], point.address).decode(regs, np.array([float(sf)]))[0]
        if value is None:
            assert math.isnan(block)
        else:
            assert block == pytest.approx(float(value), rel=1e-12)
    if value is not None:
        assert encode_value(point, value, sf) == registers
