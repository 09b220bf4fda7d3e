"""A Modbus profile from a scanned SunSpec model chain (pure).

Every point of a supported model becomes a profile point named `m<model id>.<path>`
(`m103.W`, `m103.W_SF`; a second instance of a model `m160_2.…`), with the dtype of its
SunSpec type, its scale-factor point, its unit in the platform's spelling, the SunSpec
not-implemented value as sentinel, accumulators as counters, and `writable` limits where the
model says RW (the register's range at the scanned scale factor, or the enum's values: to
be narrowed by the installer). Models without a definition are listed and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml

from peakline_core.config.profiles import (
    DataType,
    ModbusPoint,
    ModbusProfile,
    RegisterType,
    WriteLimits,
)
from peakline_core.registers import decode_value
from peakline_edge.errors import SunSpecError
from peakline_edge.sunspec.chain import ModelBlock
from peakline_edge.sunspec.models import LaidPoint, definition, lay_out, model_name

SUPPORTED = frozenset(
    {1, 101, 102, 103, 111, 112, 113, 120, 121, 122, 123, 201, 202, 203, 204, 211, 212, 213, 214}
    | set(range(701, 716))
)
_DTYPE = {
    "int16": DataType.INT16, "uint16": DataType.UINT16, "count": DataType.UINT16,
    "acc16": DataType.UINT16, "enum16": DataType.UINT16, "bitfield16": DataType.UINT16,
    "sunssf": DataType.INT16, "int32": DataType.INT32, "uint32": DataType.UINT32,
    "acc32": DataType.UINT32, "enum32": DataType.UINT32, "bitfield32": DataType.UINT32,
    "int64": DataType.INT64, "uint64": DataType.UINT64, "acc64": DataType.UINT64,
    "float32": DataType.FLOAT32, "float64": DataType.FLOAT64, "string": DataType.STRING,
}  # fmt: skip
# SunSpec's "not implemented" raw values (floats: NaN; accumulators and strings: none)
_SENTINEL = {
    "int16": -0x8000, "sunssf": -0x8000, "uint16": 0xFFFF, "enum16": 0xFFFF,
    "bitfield16": 0xFFFF, "int32": -0x80000000, "uint32": 0xFFFFFFFF, "enum32": 0xFFFFFFFF,
    "bitfield32": 0xFFFFFFFF, "int64": -0x8000000000000000,
}  # fmt: skip
_ROLLOVER = {"acc16": 1 << 16, "acc32": 1 << 32}
_COUNTERS = frozenset({"acc16", "acc32", "acc64"})
# float models (111-113, 211-214) carry their energy totals as plain floats
_ENERGY_UNITS = frozenset({"Wh", "WH", "VAh", "varh", "Varh", "kWh"})
_FLOATS = frozenset({"float32", "float64"})
_UNITS = {
    "C": "degC", "Pct": "%", "Secs": "s", "Sec": "s", "mSecs": "ms", "Var": "var",
    "VAr": "var", "Varh": "varh", "WH": "Wh", "AH": "Ah", "cos()": "", "PF": "",
}  # fmt: skip
_INVERTER = frozenset({101, 102, 103, 111, 112, 113, 120, 121, 122, 123, *range(701, 716)})
_METER = frozenset({201, 202, 203, 204, 211, 212, 213, 214})
_RAW_RANGE = {
    DataType.INT16: (-0x7FFF, 0x7FFF), DataType.UINT16: (0, 0xFFFE),
    DataType.INT32: (-0x7FFFFFFF, 0x7FFFFFFF), DataType.UINT32: (0, 0xFFFFFFFE),
    DataType.FLOAT32: (-3.0e38, 3.0e38), DataType.FLOAT64: (-1.0e300, 1.0e300),
}  # fmt: skip
_SLUG = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass
class ChainReport:
    """What the scan found, for the profile's header and the installer: per model its ID,
    address, length, name and what was done with it."""

    base: int
    models: list[tuple[int, int, int, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _sf_exponent(block: ModelBlock, laid: dict[str, LaidPoint], point: LaidPoint) -> int:
    if isinstance(point.sf, int):
        return point.sf
    sf = laid.get(point.sf or "")
    if sf is None:
        return 0
    raw = block.registers[sf.offset]
    signed = raw - 0x10000 if raw >= 0x8000 else raw
    return 0 if signed == -0x8000 else signed


def _limits(point: LaidPoint, dtype: DataType, scale: float, exponent: int) -> WriteLimits | None:
    if point.symbols and point.type.startswith("enum"):  # a bitfield's symbols are bits
        return WriteLimits(min=min(point.symbols), max=max(point.symbols))
    span = _RAW_RANGE.get(dtype)
    if span is None:
        return None
    factor = scale * 10.0**exponent
    low, high = sorted((span[0] * factor, span[1] * factor))
    return WriteLimits(min=low, max=high)


def _point(
    prefix: str,
    block: ModelBlock,
    laid: dict[str, LaidPoint],
    p: LaidPoint,
    writable: bool,
) -> ModbusPoint | None:
    dtype = _DTYPE.get(p.type)
    if dtype is None or p.path in ("ID", "L"):
        return None  # pads, addresses, the header
    scale = 10.0**p.sf if isinstance(p.sf, int) else 1.0
    sentinel = _SENTINEL.get(p.type)
    limits = None
    if writable and p.writable and dtype is not DataType.STRING:
        limits = _limits(p, dtype, scale, _sf_exponent(block, laid, p))
    description = p.label if p.label != p.path.rsplit(".", 1)[-1] else ""
    if limits is not None:
        description += " (RW: limits are the register's range; narrow them)"
    return ModbusPoint(
        name=f"{prefix}.{p.path}",
        unit=_UNITS.get(p.units, p.units)[:32],
        table=RegisterType.HOLDING,
        address=block.address + p.offset,
        dtype=dtype,
        count=p.size if dtype is DataType.STRING else None,
        scale=scale,
        scale_factor=f"{prefix}.{p.sf}" if isinstance(p.sf, str) else None,
        sentinel=[sentinel] if sentinel is not None else None,
        writable=limits,
        counter=p.type in _COUNTERS or (p.type in _FLOATS and p.units in _ENERGY_UNITS),
        rollover=_ROLLOVER.get(p.type),
        description=description,
    )


def _kind(models: Sequence[int]) -> str:
    """pv_inverter for inverter and DER models, meter for meters alone, else sunspec."""
    if _INVERTER.intersection(models):
        return "pv_inverter"
    return "meter" if _METER.intersection(models) else "sunspec"


def _common_strings(blocks: Sequence[ModelBlock]) -> tuple[str, str]:
    common = next((b for b in blocks if b.model_id == 1), None)
    if common is None:
        return "", ""
    laid = {p.path: p for p in lay_out(1, common.registers)}
    out = []
    for key in ("Mn", "Md"):
        p = laid.get(key)
        if p is None:
            out.append("")
            continue
        stub = ModbusPoint(
            name="s", table=RegisterType.HOLDING, address=0, dtype=DataType.STRING,
            count=p.size,
        )  # fmt: skip
        out.append(str(decode_value(stub, common.registers[p.offset : p.offset + p.size])))
    return out[0], out[1]


def profile_from_chain(
    base: int,
    blocks: Sequence[ModelBlock],
    name: str | None = None,
    kind: str | None = None,
    writable: bool = True,
) -> tuple[ModbusProfile, ChainReport]:
    """The profile of a scanned chain and the report of what was kept and skipped."""
    report = ChainReport(base)
    points: list[ModbusPoint] = []
    seen: dict[int, int] = {}
    kinds: list[int] = []
    for block in blocks:
        mid = block.model_id
        seen[mid] = seen.get(mid, 0) + 1
        prefix = f"m{mid}" if seen[mid] == 1 else f"m{mid}_{seen[mid]}"
        row = (mid, block.address, block.length, model_name(mid))
        if definition(mid) is None:
            report.models.append((*row, "skipped: no SunSpec definition (vendor model?)"))
            report.notes.append(f"model {mid} at {block.address} unknown: skipped")
            continue
        if mid not in SUPPORTED:
            report.models.append((*row, "skipped: not supported by the scan"))
            report.notes.append(f"model {mid} ({row[3]}) at {block.address}: not supported")
            continue
        laid_list = lay_out(mid, block.registers)
        laid = {p.path: p for p in laid_list}
        kept = 0
        for p in laid_list:
            if isinstance(p.sf, str) and p.sf not in laid:
                report.notes.append(f"{prefix}.{p.path}: scale factor past the model's end")
                continue
            point = _point(prefix, block, laid, p, writable)
            if point is not None:
                points.append(point)
                kept += 1
        report.models.append((*row, f"{kept} points as {prefix}.*"))
        kinds.append(mid)
    if not points:
        found = ", ".join(str(b.model_id) for b in blocks) or "none"
        raise SunSpecError(f"no point of a supported model in the chain (models: {found})")
    manufacturer, model = _common_strings(blocks)
    if name is None:
        name = _SLUG.sub("-", f"sunspec-{manufacturer}-{model}".lower()).strip("-")[:64]
    profile = ModbusProfile(
        name=name or "sunspec-device",
        kind=kind or _kind(kinds),
        manufacturer=manufacturer,
        model=model,
        read_only=not writable,
        points=points,
    )
    return profile, report


def profile_yaml(profile: ModbusProfile, report: ChainReport, source: str) -> str:
    """The profile as YAML, headed by the model chain as found."""
    lines = [
        f"# generated by `peakline sunspec scan` from {source}: 'SunS' at {report.base}",
        "# model chain (ID, address, length, name, what was done):",
        *(f"#   {m} at {a} L={n} {nm or '?'}: {what}" for m, a, n, nm, what in report.models),
        *(f"# note: {n}" for n in report.notes),
        "# Review: drop what the site does not need, narrow `writable` limits (or delete them)",
        "# before any command, then commit it with the site's config.",
    ]
    doc = profile.model_dump(mode="json", exclude_defaults=True)
    points = doc.pop("points")
    body = yaml.safe_dump(doc, sort_keys=False, width=100)
    rows = [  # one point a line, as the hand-written profiles are
        "  - " + yaml.safe_dump(p, sort_keys=False, default_flow_style=True, width=1000).strip()
        for p in points
    ]
    return "\n".join([*lines, body.rstrip("\n"), "points:", *rows]) + "\n"
