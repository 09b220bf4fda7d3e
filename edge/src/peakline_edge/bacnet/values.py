"""Present-values between BACnet and the platform, per object type: no sockets, no clock.

Analog objects carry a REAL (a float reading). Binary objects carry the enumeration BinaryPV
(inactive 0, active 1): a reading is a bool, as a Modbus coil or discrete input is, and a
command is a bool or 0/1 written as BinaryPV. Multi-state objects carry an Unsigned state
number 1..number-of-states: a reading is that int, a command is an integer written as
Unsigned. An answer of another type than the object's is a ValueError (the poller marks it
`error`).
"""

from __future__ import annotations

import math
from typing import Any

from bacpypes3.basetypes import BinaryPV
from bacpypes3.primitivedata import Atomic, Enumerated, Real, Unsigned

Reading = float | int | bool


def kind_of(object_type: str) -> str:
    """'analog', 'binary' or 'multi-state' for an object type such as 'binary-value'."""
    kind = object_type.rsplit("-", 1)[0]
    if kind not in ("analog", "binary", "multi-state"):
        raise ValueError(f"{object_type}: not an input, output or value object")
    return kind


def decode_present_value(object_type: str, raw: Any) -> Reading:
    """The platform's value of a present-value: float (analog), bool (binary), int
    (multi-state state number)."""
    kind = kind_of(object_type)
    if kind == "binary":
        if not isinstance(raw, BinaryPV):
            raise ValueError(f"{object_type}: present-value {raw!r} is not active/inactive")
        return int(raw) == int(BinaryPV.active)
    if kind == "multi-state":
        if not isinstance(raw, int) or isinstance(raw, bool | Enumerated) or raw < 1:
            raise ValueError(f"{object_type}: present-value {raw!r} is not a state 1..N")
        return int(raw)
    if isinstance(raw, bool | Enumerated) or not isinstance(raw, int | float):
        raise ValueError(f"{object_type}: present-value {raw!r} is not a number")
    return float(raw)


def encode_present_value(object_type: str, value: float | int | bool) -> Atomic:
    """The BACnet datatype to write for `value`: Real, BinaryPV (a bool or 0/1) or Unsigned
    (an integral state number >= 1); anything else is a ValueError, before any write."""
    kind = kind_of(object_type)
    if kind == "binary":
        if isinstance(value, bool) or value in (0, 1):
            return BinaryPV("active" if value else "inactive")
        raise ValueError(f"{object_type} is on/off: {value!r} is not a bool or 0/1")
    if isinstance(value, bool):
        raise ValueError(f"{object_type} is not on/off: {value!r}")
    if kind == "multi-state":
        if not math.isfinite(value) or value != int(value) or value < 1:
            raise ValueError(f"{object_type}: {value!r} is not a state number 1..N")
        return Unsigned(int(value))
    if not math.isfinite(value):
        raise ValueError(f"{object_type}: {value!r} is not finite")
    return Real(float(value))


def slot_value(slot: Any) -> float | None:
    """The value held by one priority-array slot (a PriorityValue choice) as a number:
    a REAL, a BinaryPV as 0.0/1.0, a state number; None for an empty (null) slot."""
    for choice in ("real", "enumerated", "unsigned", "double", "integer", "boolean"):
        value = getattr(slot, choice, None)
        if value is not None:
            return float(value)
    return None
