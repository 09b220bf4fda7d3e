"""A BACnet/IP client for the edge agent, on bacpypes3 (the maintained asyncio successor of
bacpypes; BAC0 sits on top of it and adds a scripting layer the agent does not need).

bacpypes3 errors are translated here into the edge error tree: no answer becomes
DeviceTimeout, an error/reject/abort reply ExceptionReply, a point reported out of service a
WriteRefused before anything is written. Present-values are decoded and encoded per object type
(`peakline_edge.bacnet.values`: analog REAL, binary BinaryPV as bool, multi-state Unsigned as
the state number). Writes go to present-value at a priority (default 8, manual operator) and
are read back; `relinquish` writes null at that priority so the
device's own schedule (the relinquish default or a lower slot) takes over again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from bacpypes3.apdu import AbortPDU, ErrorRejectAbortNack, RejectPDU
from bacpypes3.app import Application
from bacpypes3.argparse import SimpleArgumentParser
from bacpypes3.pdu import Address
from bacpypes3.primitivedata import Null, ObjectIdentifier

from peakline_edge.bacnet.values import (
    Reading,
    decode_present_value,
    encode_present_value,
    kind_of,
    slot_value,
)
from peakline_edge.errors import DeviceTimeout, ExceptionReply, WriteRefused

MANUAL_OPERATOR = 8
POINT_TYPES = ("analog-input", "analog-output", "analog-value", "binary-input",
               "binary-output", "binary-value", "multi-state-input", "multi-state-output",
               "multi-state-value")  # fmt: skip
UNITS = {"degrees-celsius": "degC", "percent": "%", "kilowatts": "kW", "watts": "W",
         "kilowatt-hours": "kWh", "pascals": "Pa", "no-units": ""}  # fmt: skip


@dataclass(frozen=True, slots=True)
class DiscoveredPoint:
    object_type: str
    instance: int
    name: str
    unit: str
    value_type: str
    commandable: bool
    states: tuple[str, ...] = ()
    """multi-state: state-text, state 1 first ("1".."N" when the device has none);
    binary: inactive-text, active-text when the device has them."""


@dataclass(frozen=True, slots=True)
class DiscoveredDevice:
    address: str
    instance: int
    max_apdu: int
    segmentation: str
    points: list[DiscoveredPoint]


@dataclass(frozen=True, slots=True)
class AnsweringDevice:
    """One I-Am heard during a scan: what a device says about itself."""

    instance: int
    address: str  # IP, or IP:port when not 47808 (what `discover` takes)
    vendor_id: int
    max_apdu: int
    segmentation: str


# bytes of one present-value in a ReadPropertyMultiple answer: object id (5), opening and
# closing tags (2), property id (2), opening/closing value tags (2), a real (5); and the answer's
# fixed header. A device without segmentation must get each answer in one APDU.
_RPM_BYTES_PER_VALUE = 16
_RPM_HEADER_BYTES = 8


def rpm_batch_size(max_apdu: int, segmentation: str) -> int:
    """Present-values per ReadPropertyMultiple so the answer fits the device's max APDU when
    it cannot segment (a segmenting device still gets at most 100 per request)."""
    if segmentation in ("segmented-both", "segmented-transmit"):
        return 100
    return max(1, min(100, (max_apdu - _RPM_HEADER_BYTES) // _RPM_BYTES_PER_VALUE))


_STATE_PROPERTIES = {
    "binary": ["inactive-text", "active-text"],
    "multi-state": ["number-of-states", "state-text"],
}


def _states(object_type: str, props: dict[str, Any]) -> tuple[str, ...]:
    """State names of a binary or multi-state object from its discovered properties (an
    absent optional property comes back as an error, not a value)."""
    kind = kind_of(object_type)
    if kind == "multi-state":
        texts = props.get("state-text")
        if isinstance(texts, list):
            return tuple(str(t) for t in texts)
        count = props.get("number-of-states")
        return tuple(str(n) for n in range(1, int(count) + 1)) if isinstance(count, int) else ()
    if kind == "binary":
        texts = [props.get("inactive-text"), props.get("active-text")]
        if all(isinstance(t, str) for t in texts):
            return (str(texts[0]), str(texts[1]))
    return ()


def _oid(object_type: str, instance: int) -> ObjectIdentifier:
    return ObjectIdentifier(f"{object_type},{instance}")


class BacnetClient:
    """One BACnet/IP network port of the agent. Use `async with` for its lifetime."""

    def __init__(
        self,
        address: str,
        instance: int = 4194302,
        timeout_s: float = 2.0,
        *,
        foreign_bbmd: str | None = None,
        foreign_ttl_s: int = 300,
    ) -> None:
        self.address = address  # "host/prefix:port", e.g. 127.0.0.9/8:47809
        self.instance = instance
        self.timeout_s = timeout_s
        self.foreign_bbmd = foreign_bbmd  # register with this BBMD (IP[:port]) as a foreign device
        self.foreign_ttl_s = foreign_ttl_s
        self._app: Application | None = None

    async def __aenter__(self) -> BacnetClient:
        argv = ["--address", self.address, "--instance", str(self.instance)]
        if self.foreign_bbmd is not None:  # bacpypes3 registers and re-registers within the TTL
            argv += ["--foreign", self.foreign_bbmd, "--ttl", str(self.foreign_ttl_s)]
        args = SimpleArgumentParser().parse_args(argv)
        self._app = Application.from_args(args)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._app is not None:
            self._app.close()
            self._app = None

    @property
    def app(self) -> Application:
        if self._app is None:
            raise RuntimeError("BacnetClient used outside `async with`")
        return self._app

    async def _call(self, device: str, coro: Any) -> Any:
        try:
            return await asyncio.wait_for(coro, self.timeout_s)
        except TimeoutError as exc:
            raise DeviceTimeout(device, "no BACnet answer") from exc
        except (ErrorRejectAbortNack, RejectPDU, AbortPDU) as exc:
            raise ExceptionReply(device, 0, str(exc)) from exc

    async def scan(self, low: int | None = None, high: int | None = None) -> list[AnsweringDevice]:
        """Who-Is broadcast (global, or for device instances low..high) through our network
        port (the local subnet, or the BBMD's when registered as a foreign device); every I-Am
        heard within timeout_s, by instance. Devices answer by unicast to our port."""
        i_ams = await self.app.who_is(low, high, timeout=self.timeout_s)
        found = {}
        for i_am in i_ams:
            _, instance = i_am.iAmDeviceIdentifier
            if int(instance) == self.instance:  # our own I-Am when the Who-Is loops back
                continue
            found[int(instance)] = AnsweringDevice(
                int(instance),
                str(i_am.pduSource),
                int(i_am.vendorID),
                int(i_am.maxAPDULengthAccepted),
                str(i_am.segmentationSupported),
            )
        return [found[n] for n in sorted(found)]

    async def discover(self, host: str) -> DiscoveredDevice:
        """Who-Is to `host`, then its object list and each point's name, units and type."""
        i_ams = await self.app.who_is(address=Address(host), timeout=self.timeout_s)
        if not i_ams:
            raise DeviceTimeout(host, "no I-Am")
        i_am = i_ams[0]
        _, instance = i_am.iAmDeviceIdentifier
        objects = await self._call(
            host, self.app.read_property(Address(host), i_am.iAmDeviceIdentifier, "object-list")
        )
        points = []
        for object_type, number in objects:
            kind = str(object_type)
            if kind not in POINT_TYPES:
                continue
            oid = _oid(kind, number)
            wanted = ["object-name", "units", "present-value", "priority-array"]
            wanted += _STATE_PROPERTIES.get(kind_of(kind), [])
            rows = await self._call(
                host, self.app.read_property_multiple(Address(host), [oid, wanted])
            )
            props = {str(r[1]): r[3] for r in rows}
            units = props.get("units")
            unit_name = "" if units is None or not hasattr(units, "asn1") else str(units)
            points.append(
                DiscoveredPoint(
                    object_type=kind,
                    instance=int(number),
                    name=str(props["object-name"]),
                    unit=UNITS.get(unit_name, unit_name),
                    value_type=type(props["present-value"]).__name__,
                    commandable=isinstance(props.get("priority-array"), list),
                    states=_states(kind, props),
                )
            )
        return DiscoveredDevice(
            host,
            int(instance),
            int(i_am.maxAPDULengthAccepted),
            str(i_am.segmentationSupported),
            points,
        )

    async def read_present_values(
        self, host: str, points: list[tuple[str, int]], batch: int = 100
    ) -> dict[tuple[str, int], Reading]:
        """present-value of each (object type, instance), `batch` per ReadPropertyMultiple
        (see rpm_batch_size), decoded by object type (float, bool, state number); a device
        that does not answer stops the rest of the cycle. ValueError: an undecodable value."""
        out: dict[tuple[str, int], Reading] = {}
        for first in range(0, len(points), batch):
            spec: list[Any] = []
            for kind, number in points[first : first + batch]:
                spec += [_oid(kind, number), ["present-value"]]
            rows = await self._call(host, self.app.read_property_multiple(Address(host), spec))
            for oid, _prop, _index, value in rows:
                object_type, number = oid
                out[(str(object_type), int(number))] = decode_present_value(str(object_type), value)
        return out

    async def write(
        self,
        host: str,
        kind: str,
        number: int,
        value: float | int | bool,
        priority: int = MANUAL_OPERATOR,
    ) -> Reading:
        """Write present-value at `priority` in the object's datatype (REAL, BinaryPV,
        Unsigned) and return the read-back present-value, decoded. Refused (nothing written)
        when the value does not fit the object type or the device reports it out of service."""
        oid = _oid(kind, number)
        try:
            encoded = encode_present_value(kind, value)
        except ValueError as exc:
            raise WriteRefused(f"{host} {kind},{number}: {exc}") from exc
        out_of_service = await self._call(
            host, self.app.read_property(Address(host), oid, "out-of-service")
        )
        if bool(out_of_service):
            raise WriteRefused(f"{host} {kind},{number} is out of service")
        await self._call(
            host,
            self.app.write_property(Address(host), oid, "present-value", encoded, None, priority),
        )
        return await self._present_value(host, kind, number)

    async def relinquish(
        self, host: str, kind: str, number: int, priority: int = MANUAL_OPERATOR
    ) -> Reading:
        """Write null at `priority` (the schedule takes over); returns the new present-value."""
        oid = _oid(kind, number)
        await self._call(
            host,
            self.app.write_property(Address(host), oid, "present-value", Null(()), None, priority),
        )
        return await self._present_value(host, kind, number)

    async def _present_value(self, host: str, kind: str, number: int) -> Reading:
        raw = await self._call(
            host, self.app.read_property(Address(host), _oid(kind, number), "present-value")
        )
        return decode_present_value(kind, raw)

    async def priority_slot(
        self, host: str, kind: str, number: int, priority: int = MANUAL_OPERATOR
    ) -> float | None:
        """The value in slot `priority` (1..16) of a commandable point; None when empty
        (binary: 0.0 inactive, 1.0 active; multi-state: the state number)."""
        slot = await self._call(
            host,
            self.app.read_property(Address(host), _oid(kind, number), "priority-array", priority),
        )
        return slot_value(slot)  # a PriorityValue choice: null, real, enumerated, unsigned
