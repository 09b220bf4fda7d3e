"""SunSpec model definitions laid out on a model's registers (pure).

The definitions are the SunSpec Alliance's JSON models shipped with pysunspec2 (its `mdef`
format: a top-level group of points, optional nested groups with a fixed count, a count
point, or 0 for "repeat to the model's length"). We use the definitions only; the registers
come over the edge's own pymodbus bus.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from peakline_edge.errors import SunSpecError

# registers per SunSpec point type ("string" takes its `size`)
TYPE_REGISTERS = {
    "int16": 1, "uint16": 1, "count": 1, "acc16": 1, "enum16": 1, "bitfield16": 1, "pad": 1,
    "sunssf": 1, "int32": 2, "uint32": 2, "acc32": 2, "enum32": 2, "bitfield32": 2,
    "ipaddr": 2, "float32": 2, "int64": 4, "uint64": 4, "acc64": 4, "float64": 4,
    "eui48": 4, "ipv6addr": 8,
}  # fmt: skip
NOT_IMPLEMENTED_U16 = 0xFFFF


@dataclass(frozen=True, slots=True)
class LaidPoint:
    """One point of a model instance: `path` inside the model ("W", "Crv1.Pt2.V"), its
    register `offset` from the model's ID register, SunSpec `type` and `size` (registers),
    `sf` the path of its scale-factor point or a constant exponent, `units` as the model
    spells them, `writable` (access RW) and the values of its enum symbols."""

    path: str
    offset: int
    type: str
    size: int
    sf: str | int | None
    units: str
    writable: bool
    symbols: tuple[int, ...]
    label: str


@cache
def definition(model_id: int) -> dict[str, Any] | None:
    """The model's definition, or None for a model pysunspec2 does not know (vendor models)."""
    source = resources.files("sunspec2") / "models" / "json" / f"model_{model_id}.json"
    if not source.is_file():
        return None
    loaded: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    return loaded


def model_name(model_id: int) -> str:
    d = definition(model_id)
    return str(d["group"].get("name", "")) if d else ""


def _size(point: dict[str, Any]) -> int:
    kind = str(point["type"])
    if kind == "string":
        return int(point["size"])
    if kind not in TYPE_REGISTERS:
        raise SunSpecError(f"point {point['name']}: unknown SunSpec type {kind!r}")
    return TYPE_REGISTERS[kind]


def _fixed_length(group: dict[str, Any]) -> int:
    """Registers of one instance of a group whose nested counts are all constants."""
    n = sum(_size(p) for p in group.get("points", []))
    for sub in group.get("groups", []):
        count = sub.get("count", 1)
        if not isinstance(count, int) or count == 0:
            raise SunSpecError(f"group {sub['name']}: a repeating group inside a repeating one")
        n += count * _fixed_length(sub)
    return n


class _Layout:
    """Walks one model definition over one model block's registers."""

    def __init__(self, model_id: int, registers: Sequence[int]) -> None:
        self.model_id = model_id
        self.registers = registers
        self.end = len(registers)  # L + 2: points past it are not in this device's model
        self.points: list[LaidPoint] = []
        self.top: dict[str, int] = {}  # top-level point name -> offset (for counts)

    def group(
        self, gdef: dict[str, Any], offset: int, prefix: str, scopes: tuple[dict[str, str], ...]
    ) -> int:
        names = {str(p["name"]): f"{prefix}{p['name']}" for p in gdef.get("points", [])}
        scopes = (names, *scopes)  # a scale factor is looked up here first, then outwards
        for p in gdef.get("points", []):
            size = _size(p)
            if not prefix:
                self.top[str(p["name"])] = offset
            sf = p.get("sf")
            resolved: str | int | None = None
            if isinstance(sf, int):
                resolved = sf
            elif isinstance(sf, str):
                resolved = next((s[sf] for s in scopes if sf in s), None)
                if resolved is None:
                    raise SunSpecError(f"model {self.model_id}: scale factor {sf} not found")
            self.points.append(
                LaidPoint(
                    path=f"{prefix}{p['name']}",
                    offset=offset,
                    type=str(p["type"]),
                    size=size,
                    sf=resolved,
                    units=str(p.get("units") or ""),
                    writable=p.get("access") == "RW",
                    symbols=tuple(int(s["value"]) for s in p.get("symbols", [])),
                    label=str(p.get("label") or ""),
                )
            )
            offset += size
        for sub in gdef.get("groups", []):
            count = self._count(sub, offset)
            name = str(sub["name"])
            for i in range(count):
                tag = f"{prefix}{name}." if sub.get("count", 1) == 1 else f"{prefix}{name}{i + 1}."
                offset = self.group(sub, offset, tag, scopes)
        return offset

    def _count(self, sub: dict[str, Any], offset: int) -> int:
        count = sub.get("count", 1)
        if isinstance(count, int) and count > 0:
            return count
        if count == 0:  # repeats up to the model's length
            return max(0, (self.end - offset) // max(1, _fixed_length(sub)))
        at = self.top.get(str(count))
        if at is None or at >= self.end:
            raise SunSpecError(f"model {self.model_id}: count point {count} not found")
        value = int(self.registers[at])
        return 0 if value == NOT_IMPLEMENTED_U16 else value


def lay_out(model_id: int, registers: Sequence[int]) -> list[LaidPoint]:
    """Points of a model instance from its registers (ID and L first). Points that end past
    the model's length are left out: a device may implement a shorter, older revision (model 1
    with L 65 has no Pad). Raises SunSpecError for an unknown model."""
    d = definition(model_id)
    if d is None:
        raise SunSpecError(f"model {model_id} has no SunSpec definition")
    layout = _Layout(model_id, registers)
    layout.group(d["group"], 0, "", ())
    return [p for p in layout.points if p.offset + p.size <= layout.end]
