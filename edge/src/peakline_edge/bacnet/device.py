"""A BACnet/IP device polled by the agent: the same seam as `ModbusDevice` for the poller
(`id`, `device`, `profile`, `interval_of`, `poll`), so BACnet readings go through the same
spool, uplink, quality flags and availability tracking as Modbus readings.

Reads are batched ReadPropertyMultiple of present-value, sized to the device's max APDU and
segmentation (`rpm_batch_size`). A batch with no answer marks it and the rest of the cycle's
points `error` and the device unreachable (the poller then isolates it and probes with
back-off, as for a Modbus device); an error reply marks only that batch's points.

Values by object type (`peakline_edge.bacnet.values`): analog a float, binary a bool (as a
Modbus coil), multi-state the state number (int).

`write_point`/`read_point`/`revert_point` are the command executor's seam, as on
`ModbusDevice`: a write goes to present-value at the point's priority (default 8) in the
object's datatype and is read back; a revert relinquishes that priority (writes null) and
checks the slot is empty, so the building's own schedule takes over instead of an old value
written back.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable

from peakline_core.config.platform import BacnetIp, Device
from peakline_core.config.profiles import BacnetPoint, BacnetProfile
from peakline_core.wire import Quality, Reading
from peakline_edge.bacnet.client import BacnetClient, rpm_batch_size
from peakline_edge.bacnet.values import Reading as BacnetValue
from peakline_edge.bacnet.values import kind_of
from peakline_edge.device import PollResult
from peakline_edge.errors import DeviceError, DeviceTimeout, NotConfirmed, WriteRefused

Value = float | int | bool | str | None


class BacnetDevice:
    """One BACnet device, read through the agent's shared `BacnetClient`."""

    def __init__(
        self,
        device: Device,
        profile: BacnetProfile,
        client: BacnetClient,
        *,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        if not isinstance(device.connection, BacnetIp):
            raise TypeError(f"{device.id} is not a BACnet device")
        self.device = device
        self.profile = profile
        self.client = client
        self.connection = device.connection
        self.batch = rpm_batch_size(device.connection.max_apdu, device.connection.segmentation)
        self._clock = clock_ns

    @property
    def id(self) -> str:
        return self.device.id

    def interval_of(self, point: BacnetPoint) -> float:
        return self.device.poll_interval_s

    async def poll(self, due: Iterable[BacnetPoint]) -> PollResult:
        """Read the due points' present-values; never raises for device errors."""
        points = list(due)
        result = PollResult()
        values: dict[tuple[str, int], BacnetValue] = {}
        errored: set[tuple[str, int]] = set()
        answered = False
        ts = self._clock()
        for first in range(0, len(points), self.batch):
            chunk: list[tuple[str, int]] = [
                (p.object_type, p.instance) for p in points[first : first + self.batch]
            ]
            result.requests += 1
            try:
                values.update(
                    await self.client.read_present_values(
                        self.connection.address, chunk, batch=self.batch
                    )
                )
                answered = True
            except DeviceTimeout as exc:
                result.failed.append(exc)
                errored.update((p.object_type, p.instance) for p in points[first:])
                break  # no answer: do not spend the other batches' timeouts too
            except DeviceError as exc:
                answered = True
                result.failed.append(exc)
                errored.update(chunk)
            except (TypeError, ValueError) as exc:  # a value not of the object's type
                answered = True
                result.failed.append(DeviceError(self.id, f"undecodable reply: {exc}"))
                errored.update(chunk)
        result.reachable = answered
        for p in points:
            key = (p.object_type, p.instance)
            unit = p.unit or None
            value = values.get(key)
            if key in errored or value is None:
                result.readings.append(Reading(p.name, ts, None, Quality.ERROR, unit))
            elif not math.isfinite(value):
                result.readings.append(Reading(p.name, ts, None, Quality.STALE, unit))
            else:
                result.readings.append(Reading(p.name, ts, value, Quality.GOOD, unit))
        return result

    # -- writes (the seam for the command executor) ------------------------------------------

    async def read_point(self, point_name: str) -> Value:
        """present-value of one point now; raises DeviceError when the device fails."""
        point = self.profile.point(point_name)
        key = (point.object_type, point.instance)
        try:
            values = await self.client.read_present_values(self.connection.address, [key])
        except (TypeError, ValueError) as exc:
            raise DeviceError(self.id, f"undecodable reply: {exc}") from exc
        value = values.get(key)
        if value is None:
            raise DeviceError(self.id, f"{point_name}: no present-value in the reply")
        return value if math.isfinite(value) else None

    async def write_point(self, point_name: str, value: float | int | bool) -> Value:
        """Write present-value at the point's priority and return the read-back value.

        Raises WriteRefused (read-only, not writable, outside limits, or out of service on the
        device: nothing was written), ExceptionReply (the device refused), DeviceTimeout.
        """
        point = self._writable(point_name, value)
        try:
            return await self.client.write(
                self.connection.address, point.object_type, point.instance, value, point.priority
            )
        except WriteRefused as exc:
            raise WriteRefused(
                f"out_of_service: {self.id}.{point_name} is out of service on the device"
                " (nothing written)"
            ) from exc
        except ValueError as exc:  # the read-back is not of the object's type
            raise DeviceError(self.id, f"undecodable read-back: {exc}") from exc

    async def revert_point(self, point_name: str, previous: float | int | bool) -> Value:
        """End a hold: relinquish the point's priority (not `previous` written back; the next
        slot or the relinquish default takes over) and return the present-value after it.
        Raises NotConfirmed when the slot still holds a value after the relinquish."""
        point = self.profile.point(point_name)
        host, kind, number = self.connection.address, point.object_type, point.instance
        try:
            readback = await self.client.relinquish(host, kind, number, point.priority)
        except ValueError as exc:
            raise DeviceError(self.id, f"undecodable read-back: {exc}") from exc
        left = await self.client.priority_slot(host, kind, number, point.priority)
        if left is not None:
            raise NotConfirmed(
                self.id, f"{point_name}: priority {point.priority} still holds {left:g}", readback
            )
        return readback

    def _writable(self, name: str, value: float | int | bool) -> BacnetPoint:
        if self.device.read_only or self.profile.read_only:
            raise WriteRefused(f"{self.id} is read-only")
        try:
            point = self.profile.point(name)
        except KeyError:
            raise WriteRefused(f"{self.id} has no point {name!r}") from None
        limits = point.writable
        if limits is None:
            raise WriteRefused(f"{self.id}.{name} is not writable")
        kind = kind_of(point.object_type)
        if kind == "binary":  # on/off: a bool or 0/1 only
            if not isinstance(value, bool) and value not in (0, 1):
                raise WriteRefused(f"{self.id}.{name} is on/off: {value!r} is not a bool or 0/1")
        elif isinstance(value, bool):
            raise WriteRefused(f"{self.id}.{name}: {value!r} on a {point.object_type}")
        elif kind == "multi-state" and not float(value).is_integer():
            raise WriteRefused(f"{self.id}.{name}: {value!r} is not a state number")
        if not limits.min <= float(value) <= limits.max:
            raise WriteRefused(f"{self.id}.{name}: {value!r} outside [{limits.min}, {limits.max}]")
        return point
