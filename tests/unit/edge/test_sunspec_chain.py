"""SunSpec discovery on literal register vectors (no device): the model chain, the layout of
models with repeating groups, and the profile a chain becomes. Addresses are pinned against
the SunSpec specification's offsets and against the hand-written `sunspec-inverter` profile
(written from the specification, not from pysunspec2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import TypeAdapter

from peakline_core.config import DataType, DeviceProfile, ModbusProfile
from peakline_edge.errors import SunSpecError
from peakline_edge.sunspec.chain import ModelBlock, parse_chain
from peakline_edge.sunspec.models import lay_out
from peakline_edge.sunspec.profile import profile_from_chain, profile_yaml

REPO = Path(__file__).resolve().parents[3]
SUNS = [0x5375, 0x6E53]
END = [0xFFFF, 0x0000]
NI16 = 0x8000  # int16 / sunssf 'not implemented'


def _ascii(text: str, registers: int) -> list[int]:
    data = text.encode().ljust(2 * registers, b"\0")
    return [data[i] << 8 | data[i + 1] for i in range(0, len(data), 2)]


def _common(length: int = 65) -> list[int]:
    body = [*_ascii("Acme", 16), *_ascii("PV-9", 16), *[0] * 8, *_ascii("1.0", 8)]
    body += [*_ascii("SN42", 16), 1, NI16]  # DA, Pad
    return [1, length, *body[:length]]


def test_chain_walks_models_to_the_end_marker() -> None:
    image = [*SUNS, 1, 4, 11, 12, 13, 14, 64900, 2, 21, 22, *END]
    blocks = parse_chain(40000, image)
    assert blocks == [
        ModelBlock(1, 40002, 4, (1, 4, 11, 12, 13, 14)),
        ModelBlock(64900, 40008, 2, (64900, 2, 21, 22)),
    ]
    assert blocks[1].end == 40012


def test_chain_without_end_model_stops_at_the_last_whole_model() -> None:
    assert [b.model_id for b in parse_chain(0, [*SUNS, 1, 1, 5, 120, 0])] == [1, 120]


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ([0x5375, 0x6E54, 1, 0], "no 'SunS' marker at 50000"),
        ([*SUNS, 103, 50, 0, 0], "model 103 at 50002 has length 50, past the registers read"),
    ],
)
def test_chain_errors(image: list[int], message: str) -> None:
    with pytest.raises(SunSpecError, match=message):
        parse_chain(50000, image)


def test_common_model_of_an_older_revision_has_no_pad() -> None:
    short = [p.path for p in lay_out(1, _common(65))]
    full = [p.path for p in lay_out(1, _common(66))]
    assert short[-1] == "DA" and full[-1] == "Pad"
    assert [(p.path, p.offset, p.size) for p in lay_out(1, _common(65)) if p.type == "string"] == [
        ("Mn", 2, 16), ("Md", 18, 16), ("Opt", 34, 8), ("Vr", 42, 8), ("SN", 50, 16),
    ]  # fmt: skip


def test_repeating_group_filling_the_model_length() -> None:
    # model 160 (MPPT): 8 registers of header points, then 20-register modules to L
    regs = [160, 48, 0xFFFE, 0xFFFF, 0, NI16, 0, 0, 2, 0] + [0] * 40
    laid = {p.path: p for p in lay_out(160, regs)}
    assert laid["module2.DCA"].offset == 10 + 20 + 9
    assert laid["module2.DCA"].sf == "DCA_SF"  # found in the model's top group
    assert laid["module2.DCWH"].type == "acc32" and "module3.ID" not in laid


def test_groups_counted_by_points_nest() -> None:
    # model 705 (volt-var): NPt at 5, NCrv at 6; curves of 10 registers plus NPt points of 2
    top = [705, 41, 1, 0, 0, 2, 2, 0, 0, 0, 0, 0, 0xFFFE, 0, 0xFFFD]
    regs = top + [0] * 28
    laid = {p.path: p for p in lay_out(705, regs)}
    assert laid["Crv2.Pt2.V"].offset == 15 + 14 + 10 + 2
    assert laid["Crv2.Pt2.V"].sf == "V_SF" and laid["Crv2.Pt2.Var"].sf == "DeptRef_SF"
    assert laid["Crv1.Pt1.V"].writable
    assert "Crv3.ActPt" not in laid and "Crv1.Pt3.V" not in laid


def test_model_103_points_sit_where_the_specification_puts_them() -> None:
    inverter = [103, 50] + [0] * 50
    inverter[2 + 4] = 0xFFFE  # A_SF -2
    image = [*SUNS, *_common(65), *inverter, *END]
    profile, report = profile_from_chain(40000, parse_chain(40000, image))
    hand = ModbusProfile.model_validate(
        yaml.safe_load((REPO / "config" / "profiles" / "sunspec-inverter.yaml").read_text())
    )
    same = {
        "m1.Mn": "manufacturer", "m1.Md": "model_name", "m1.SN": "serial_number",
        "m103.A": "ac_current", "m103.AphC": "ac_current_c", "m103.A_SF": "current_sf",
        "m103.PhVphA": "voltage_an", "m103.V_SF": "voltage_sf", "m103.W": "ac_power",
        "m103.W_SF": "ac_power_sf", "m103.Hz": "frequency", "m103.VAr": "reactive_power",
        "m103.PF": "power_factor", "m103.WH": "ac_energy", "m103.WH_SF": "energy_sf",
        "m103.DCA": "dc_current", "m103.DCV": "dc_voltage", "m103.DCW": "dc_power",
        "m103.TmpCab": "cabinet_temp", "m103.TmpSnk": "heatsink_temp", "m103.Tmp_SF": "temp_sf",
        "m103.St": "operating_state", "m103.StVnd": "vendor_state", "m103.Evt1": "events",
    }  # fmt: skip
    for ours, theirs in same.items():
        a, b = profile.point(ours), hand.point(theirs)
        assert (a.address, a.dtype, a.width) == (b.address, b.dtype, b.width), ours
        if b.scale_factor is not None:
            assert a.scale_factor is not None
            assert hand.point(b.scale_factor).address == profile.point(a.scale_factor).address
    wh = profile.point("m103.WH")
    assert wh.counter and wh.rollover == 1 << 32 and wh.unit == "Wh" and wh.sentinel is None
    assert profile.point("m103.W").sentinel == [-32768]
    assert profile.point("m103.A").sentinel == [65535]
    assert profile.point("m103.TmpCab").unit == "degC"
    assert (profile.name, profile.kind, profile.manufacturer) == (
        "sunspec-acme-pv-9",
        "pv_inverter",
        "Acme",
    )
    assert [m[:3] for m in report.models] == [(1, 40002, 65), (103, 40069, 50)]


def test_controls_are_writable_within_the_register_range_and_vendor_models_skipped() -> None:
    controls = [123, 24] + [0] * 24
    controls[2 + 21] = 0xFFFF  # WMaxLimPct_SF -1
    image = [*SUNS, *_common(66), 64900, 3, 7, 7, 7, *controls, *END]
    profile, report = profile_from_chain(0, parse_chain(0, image), name="x")
    limit = profile.point("m123.WMaxLimPct")
    assert limit.address == 0 + 2 + 68 + 5 + 5 and limit.scale_factor == "m123.WMaxLimPct_SF"
    assert limit.writable is not None
    assert (limit.writable.min, limit.writable.max) == pytest.approx((0.0, 6553.4))
    enable = profile.point("m123.WMaxLim_Ena").writable
    assert enable is not None and (enable.min, enable.max) == (0, 1)  # its enum's values
    assert profile.point("m123.OutPFSet").dtype is DataType.INT16
    assert not any(p.name.startswith("m64900") for p in profile.points)
    assert report.models[1][:3] == (64900, 70, 3) and "skipped" in report.models[1][4]
    text = profile_yaml(profile, report, "test")
    assert TypeAdapter(DeviceProfile).validate_python(yaml.safe_load(text)) == profile

    read_only, _ = profile_from_chain(0, parse_chain(0, image), name="x", writable=False)
    assert read_only.read_only and not any(p.writable for p in read_only.points)


def test_a_meter_alone_is_a_meter_and_float_energy_is_a_counter() -> None:
    meter = [213, 124] + [0] * 124  # three-phase wye meter, floats
    profile, _ = profile_from_chain(40000, parse_chain(40000, [*SUNS, *meter, *END]), name="m")
    assert profile.kind == "meter"
    exported = profile.point("m213.TotWhExp")
    assert exported.counter and exported.dtype is DataType.FLOAT32 and exported.unit == "Wh"
    assert not profile.point("m213.W").counter


def test_a_chain_without_supported_models_is_an_error() -> None:
    with pytest.raises(SunSpecError, match="models: 64900"):
        profile_from_chain(0, parse_chain(0, [*SUNS, 64900, 1, 0, *END]))


def test_an_unsupported_model_is_listed_with_its_name() -> None:
    image = [*SUNS, *_common(65), 160, 8, *([0] * 8), *END]
    profile, report = profile_from_chain(40000, parse_chain(40000, image), name="x")
    assert report.models[1][3] == "mppt" and "not supported" in report.models[1][4]
    assert all(p.name.startswith("m1.") for p in profile.points)
