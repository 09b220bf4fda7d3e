"""pymodbus servers for simulated devices: one TCP listener per port (one device, or several
told apart by unit id) and one RTU server per serial line (several unit ids on one bus).

pymodbus calls `async_getValues/async_setValues` on the server's context for every request;
`DeviceBus` answers them from the simulated devices, so values are computed at request time and
faults are real on the wire: exception replies, silence (no reply at all), slow replies, and a
listener that closes every connection but the first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import SimData, SimDevice

from firmware_sim.device import ModbusDevice, NoAnswer
from firmware_sim.scenario import FaultKind

WRITE_SINGLE_REGISTER = 6


class DeviceBus:
    """The context pymodbus reads and writes: unit id -> simulated device."""

    def __init__(self, units: dict[int, ModbusDevice], now: Callable[[], int], any_unit: bool):
        self.units = units
        self.now = now
        self.any_unit = any_unit  # TCP devices answer whatever unit id they are sent

    def _device(self, unit: int) -> ModbusDevice:
        dev = self.units.get(unit)
        if dev is None and self.any_unit and len(self.units) == 1:
            dev = next(iter(self.units.values()))
        if dev is None:
            raise NoSuchIdException(f"no unit {unit}")  # RTU: nobody answers
        return dev

    async def _delay(self, dev: ModbusDevice, t_ns: int) -> None:
        delay = dev.delay_s(t_ns)
        if delay > 0:
            await asyncio.sleep(delay)  # the simulated device is slow; not a test wait

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | list[bool] | ExcCodes:
        dev = self._device(device_id)
        t = self.now()
        table = dev.table_of(func_code)
        try:
            regs = dev.read(table, address, count, t)
        except NoAnswer:
            raise NoSuchIdException("silent") from None
        await self._delay(dev, t)
        if isinstance(regs, ExcCodes):
            return regs
        if table in ("coil", "discrete"):
            return [bool(r) for r in regs]
        return regs

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: list[int] | list[bool]
    ) -> ExcCodes | None:
        dev = self._device(device_id)
        if func_code == WRITE_SINGLE_REGISTER and dev.profile.write_function == 16:
            return ExcCodes.ILLEGAL_FUNCTION  # the model takes single registers by FC16 only
        t = self.now()
        try:
            err = dev.write(dev.table_of(func_code), address, [int(v) for v in values], t)
        except NoAnswer:
            raise NoSuchIdException("silent") from None
        await self._delay(dev, t)
        return err

    def device_ids(self) -> list[int]:
        return list(self.units)

    def refuses_connections(self, t_ns: int) -> bool:
        return any(d.silent(t_ns) and _rebooting(d, t_ns) for d in self.units.values())

    def single_connection(self, t_ns: int) -> bool:
        return any(
            f.kind is FaultKind.SINGLE_CONNECTION
            for d in self.units.values()
            for f in d.faults(t_ns)
        )


def _rebooting(dev: ModbusDevice, t_ns: int) -> bool:
    return any(f.kind is FaultKind.REBOOT for f in dev.faults(t_ns))


class _Refuse(asyncio.Protocol):
    """Accepts the TCP connection and closes it at once (what busy embedded stacks do)."""

    unique_id = "refused"
    listener = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


def _placeholder() -> SimDevice:
    return SimDevice(0, simdata=[SimData(address=0, values=0)])


class SimTcpServer(ModbusTcpServer):
    """ModbusTcpServer whose datastore is a DeviceBus, with connection-level faults."""

    def __init__(
        self, bus: DeviceBus, host: str, port: int, framer: FramerType = FramerType.SOCKET
    ) -> None:
        super().__init__(
            _placeholder(), framer=framer, address=(host, port), ignore_missing_devices=True
        )
        self.context = bus  # type: ignore[assignment]
        self.bus = bus

    def handle_new_connection(self):  # type: ignore[no-untyped-def]
        t = self.bus.now()
        if self.bus.refuses_connections(t):
            return _Refuse()
        if self.bus.single_connection(t) and len(self.active_connections) >= 1:
            return _Refuse()
        return super().handle_new_connection()

    def drop_connections(self) -> None:
        for conn in list(self.active_connections.values()):
            conn.close()

    @property
    def port(self) -> int:
        return int(self.transport.sockets[0].getsockname()[1])  # type: ignore[attr-defined]


class SimSerialServer(ModbusSerialServer):
    """RTU server on a serial line whose datastore is a DeviceBus (unknown units: silence)."""

    def __init__(self, bus: DeviceBus, path: str, baudrate: int, parity: str, stopbits: int):
        super().__init__(
            _placeholder(),
            port=path,
            baudrate=baudrate,
            parity=parity,
            stopbits=stopbits,
            ignore_missing_devices=True,
        )
        self.context = bus  # type: ignore[assignment]
        self.bus = bus
