"""Device profiles: register maps for Modbus devices and field maps for MQTT sensors.

A profile is the single description of a device model. firmware-sim encodes with it, the edge
agent plans and decodes with it, and the API and edge validate commands against its limits.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from peakline_core.wire.ids import ID_PATTERN, POINT_PATTERN

PointName = Annotated[str, Field(pattern=POINT_PATTERN)]
ProfileName = Annotated[str, Field(pattern=ID_PATTERN)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterType(StrEnum):
    HOLDING = "holding"
    INPUT = "input"
    COIL = "coil"
    DISCRETE = "discrete"

    @property
    def is_bit(self) -> bool:
        return self in (RegisterType.COIL, RegisterType.DISCRETE)


class DataType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT16 = "float16"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    BOOL = "bool"  # a coil / discrete input, or a whole register that is 0 or not
    BIT = "bit"  # one bit of a 16-bit register
    STRING = "string"  # `count` registers of ASCII, two characters each

    @property
    def registers(self) -> int:
        """Registers one value occupies (strings: see Point.count)."""
        return _WIDTH[self]


_WIDTH = {
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.FLOAT16: 1,
    DataType.BOOL: 1,
    DataType.BIT: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.FLOAT32: 2,
    DataType.INT64: 4,
    DataType.UINT64: 4,
    DataType.FLOAT64: 4,
    DataType.STRING: 1,
}


class ByteOrder(StrEnum):
    """Order of the bytes A (most significant) .. D on the wire, as Telegraf names them.

    ABCD big-endian; DCBA little-endian; BADC big-endian words with swapped bytes; CDAB
    little-endian word order ("word swap"), the most common 32-bit layout after ABCD.
    """

    ABCD = "ABCD"
    DCBA = "DCBA"
    BADC = "BADC"
    CDAB = "CDAB"


class WriteLimits(Strict):
    """What a command may write to a point (engineering units, after scale and offset)."""

    min: float
    max: float
    step: float | None = Field(default=None, gt=0)
    max_rate_per_min: float | None = Field(
        default=None, gt=0, description="largest change from the current value per minute"
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class PhysicalRange(Strict):
    """What a point can physically read (engineering units): a reading outside it is a hard
    anomaly verdict from the first reading (a power factor beyond 1, a mains frequency of
    250 Hz), whatever the history."""

    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class ModbusPoint(Strict):
    """One value in a Modbus register map."""

    name: PointName
    unit: str = Field(default="", max_length=32, description="engineering unit, e.g. W, kWh")
    table: RegisterType
    address: int = Field(ge=0, le=65535, description="0-based protocol address")
    dtype: DataType
    count: int | None = Field(default=None, ge=1, le=125, description="registers (strings)")
    byte_order: ByteOrder = ByteOrder.ABCD
    bit: int | None = Field(default=None, ge=0, le=15)
    scale: float = 1.0
    offset: float = 0.0
    scale_factor: PointName | None = Field(
        default=None, description="SunSpec: int16 point whose value v multiplies this by 10**v"
    )
    sentinel: list[int] | None = Field(
        default=None, description="raw values that mean 'no reading' (e.g. 32768 in SunSpec)"
    )
    writable: WriteLimits | None = None
    range: PhysicalRange | None = Field(
        default=None, description="physical range of a reading (else `writable` limits)"
    )
    interval_s: float | None = Field(default=None, gt=0, description="overrides the device's")
    counter: bool = Field(default=False, description="a cumulative counter (energy)")
    rollover: int | None = Field(default=None, gt=0, description="raw value a counter wraps at")
    description: str = ""

    @property
    def width(self) -> int:
        """Registers (or bits, for coils and discrete inputs) this point occupies."""
        if self.dtype is DataType.STRING:
            return self.count or 1
        return self.dtype.registers

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        dt, reg = self.dtype, self.table
        if reg.is_bit and dt is not DataType.BOOL:
            raise ValueError(f"a {reg.value} point must have dtype bool, not {dt.value}")
        if dt is DataType.BIT and self.bit is None:
            raise ValueError("dtype bit needs `bit` (0-15)")
        if self.bit is not None and dt is not DataType.BIT:
            raise ValueError("`bit` is only for dtype bit")
        if dt is DataType.STRING and self.count is None:
            raise ValueError("dtype string needs `count` (registers)")
        if self.count is not None and dt is not DataType.STRING and self.count != dt.registers:
            raise ValueError(
                f"dtype {dt.value} takes {dt.registers} register(s), but count is {self.count}"
            )
        if self.address + self.width > 65536:
            raise ValueError("address + registers runs past 65535")
        if self.writable is not None:
            if reg in (RegisterType.INPUT, RegisterType.DISCRETE):
                raise ValueError(f"a {reg.value} register cannot be writable")
            if dt is DataType.STRING:
                raise ValueError("string points cannot be writable")
        if self.rollover is not None and not self.counter:
            raise ValueError("`rollover` is only for counters (counter: true)")
        return self


class ModbusProfile(Strict):
    """A Modbus device model's register map."""

    protocol: Literal["modbus"] = "modbus"
    name: ProfileName
    kind: str = Field(description="meter, pv_inverter, hvac, feeder, ev_charger, battery, ...")
    manufacturer: str = ""
    model: str = ""
    read_only: bool = Field(default=False, description="no point of this model may be written")
    max_block_registers: int = Field(default=125, ge=1, le=125)
    max_block_bits: int = Field(default=2000, ge=1, le=2000)
    max_gap: int = Field(default=10, ge=0, le=124, description="registers read to join blocks")
    write_function: Literal[6, 16] = Field(
        default=6,
        description="function for a one-register write: 6 (write single register) or 16"
        " (write multiple registers, for devices that accept only FC16)",
    )
    enable: EnableSequence | None = None
    points: list[ModbusPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Self:
        names = [p.name for p in self.points]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise ValueError(f"duplicate point name {name!r}")
            seen.add(name)
        by_name = {p.name: p for p in self.points}
        for p in self.points:
            if p.scale_factor is not None:
                sf = by_name.get(p.scale_factor)
                if sf is None:
                    raise ValueError(f"point {p.name!r}: scale_factor {p.scale_factor!r} unknown")
                if sf.dtype is not DataType.INT16:
                    raise ValueError(f"point {p.name!r}: scale factor point must be int16")
        if self.read_only and any(p.writable for p in self.points):
            raise ValueError("a read_only profile cannot have writable points")
        if self.enable is not None and self.enable.point not in by_name:
            raise ValueError(f"enable point {self.enable.point!r} unknown")
        return self

    def point(self, name: str) -> ModbusPoint:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)


class EnableSequence(Strict):
    """Some controllers only accept writes after an enable register is set."""

    point: PointName
    value: float | int | bool = 1


class MqttField(Strict):
    """One value taken from an MQTT sensor's JSON payload."""

    name: PointName
    field: str = Field(min_length=1, description="dotted path in the JSON object, e.g. co2")
    unit: str = Field(default="", max_length=32)
    dtype: Literal["number", "bool", "string"] = "number"
    scale: float = 1.0
    offset: float = 0.0


class MqttProfile(Strict):
    """An MQTT-native sensor model: which JSON fields are which points."""

    protocol: Literal["mqtt"] = "mqtt"
    name: ProfileName
    kind: str
    manufacturer: str = ""
    model: str = ""
    timestamp_field: str | None = Field(
        default=None, description="JSON field holding the source time (ISO 8601 or epoch s)"
    )
    fields: list[MqttField] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise ValueError("duplicate field names")
        return self


BacnetObjectType = Literal[
    "analog-input",
    "analog-output",
    "analog-value",
    "binary-input",
    "binary-output",
    "binary-value",
    "multi-state-input",
    "multi-state-output",
    "multi-state-value",
]


class BacnetPoint(Strict):
    """One BACnet object whose present-value is a point: analog a number, binary on/off
    (a bool; commands true/false or 0/1), multi-state a state number 1..N (an int)."""

    name: PointName
    object_type: BacnetObjectType
    instance: int = Field(ge=0, le=4194302)
    unit: str = Field(default="", max_length=32, description="platform unit, e.g. degC, kW")
    object_name: str = Field(default="", description="the device's object-name, as discovered")
    states: list[str] = Field(
        default=[],
        description="multi-state: the state-text, state 1 first; binary: inactive, active text",
    )
    writable: WriteLimits | None = None
    priority: int = Field(default=8, ge=1, le=16, description="write priority (8: manual operator)")

    @model_validator(mode="after")
    def _commandable(self) -> Self:
        kind = self.object_type.rsplit("-", 1)[0]
        if kind == "analog" and self.states:
            raise ValueError(f"a {self.object_type} has no states")
        if kind == "binary" and self.states and len(self.states) != 2:
            raise ValueError("a binary object's states are [inactive text, active text]")
        limits = self.writable
        if limits is None:
            return self
        if self.object_type.endswith("-input"):
            raise ValueError(f"a {self.object_type} cannot be writable")
        if kind == "binary" and (limits.min < 0 or limits.max > 1):
            raise ValueError("a binary object is written 0/1: writable within [0, 1]")
        if kind == "multi-state":
            top = len(self.states) or None
            if limits.min < 1 or (top is not None and limits.max > top):
                raise ValueError(f"a multi-state object's states are 1..{top or 'N'}")
        return self


class BacnetProfile(Strict):
    """A BACnet device's points, generated by `peakline bacnet discover` and reviewed; used by
    devices whose connection driver is `bacnet`."""

    protocol: Literal["bacnet"] = "bacnet"
    name: ProfileName
    kind: str
    manufacturer: str = ""
    model: str = ""
    read_only: bool = False
    points: list[BacnetPoint] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [p.name for p in self.points]
        if len(names) != len(set(names)):
            raise ValueError("duplicate point names")
        objects = [(p.object_type, p.instance) for p in self.points]
        if len(objects) != len(set(objects)):
            raise ValueError("two points name the same object")
        if self.read_only and any(p.writable for p in self.points):
            raise ValueError("a read_only profile cannot have writable points")
        return self

    def point(self, name: str) -> BacnetPoint:
        for p in self.points:
            if p.name == name:
                return p
        raise KeyError(name)


def _protocol(value: object) -> str:
    """The profile variant: `protocol` when given, Modbus by default."""
    if isinstance(value, dict):
        return str(value.get("protocol", "modbus"))
    return str(getattr(value, "protocol", "modbus"))


DeviceProfile = Annotated[
    Annotated[ModbusProfile, Tag("modbus")]
    | Annotated[MqttProfile, Tag("mqtt")]
    | Annotated[BacnetProfile, Tag("bacnet")],
    Discriminator(_protocol),
]
ModbusProfile.model_rebuild()
