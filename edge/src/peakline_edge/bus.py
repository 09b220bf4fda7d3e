"""One physical Modbus bus: a TCP connection to a host:port (a device or a gateway in front of
several unit ids) or one serial line in RTU framing shared by several devices.

Every transaction on a bus holds the bus lock, and on RTU waits the inter-frame gap after the
answer, so devices on one line never talk over each other. pymodbus errors are translated here
into the edge error tree; pymodbus's own retries and reconnect loop are switched off because the
device layer retries with backoff and jitter, per request, without holding the lock in between.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU

from peakline_core.config.platform import ModbusConnection, ModbusRtuOverTcp, ModbusTcp
from peakline_core.config.profiles import RegisterType
from peakline_edge.errors import (
    BadReply,
    DeviceTimeout,
    ExceptionReply,
    IllegalAddress,
    NoConnection,
)

ILLEGAL_DATA_ADDRESS = 2
READ_FUNCTION = {
    RegisterType.COIL: 1,
    RegisterType.DISCRETE: 2,
    RegisterType.HOLDING: 3,
    RegisterType.INPUT: 4,
}
BusKey = tuple[str, str, int]


def bus_key(connection: ModbusConnection) -> BusKey:
    """Devices with the same key share one bus (one connection, one lock)."""
    if isinstance(connection, ModbusTcp):
        return ("tcp", connection.host, connection.port)
    if isinstance(connection, ModbusRtuOverTcp):
        return ("rtu-tcp", connection.host, connection.port)
    return ("rtu", connection.port, 0)


def rtu_frame_gap_s(baudrate: int) -> float:
    """Silence between RTU frames: 3.5 characters of 11 bits, at least 1.75 ms (the spec's
    fixed value above 19200 baud)."""
    return max(3.5 * 11 / baudrate, 0.00175)


class ModbusBus:
    """A pymodbus async client with its lock. Use `async with bus:` for its lifetime."""

    def __init__(self, connection: ModbusConnection, timeout_s: float | None = None) -> None:
        timeout = timeout_s or connection.timeout_s
        self.key = bus_key(connection)
        self.lock = asyncio.Lock()
        self.client: AsyncModbusTcpClient | AsyncModbusSerialClient
        if isinstance(connection, ModbusTcp):
            self.client = AsyncModbusTcpClient(
                connection.host, port=connection.port, timeout=timeout, retries=0, reconnect_delay=0
            )
            self.frame_gap_s = 0.0
        elif isinstance(connection, ModbusRtuOverTcp):
            # the converter paces the serial side; the lock keeps one frame in flight
            self.client = AsyncModbusTcpClient(
                connection.host,
                port=connection.port,
                framer=FramerType.RTU,
                timeout=timeout,
                retries=0,
                reconnect_delay=0,
            )
            self.frame_gap_s = 0.0
        else:
            self.client = AsyncModbusSerialClient(
                connection.port,
                framer=FramerType.RTU,
                baudrate=connection.baudrate,
                bytesize=connection.bytesize,
                parity=connection.parity,
                stopbits=connection.stopbits,
                timeout=timeout,
                retries=0,
                reconnect_delay=0,
            )
            self.frame_gap_s = rtu_frame_gap_s(connection.baudrate)
        self.requests = 0  # transactions sent (the benchmark's requests per cycle)

    async def __aenter__(self) -> ModbusBus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    @property
    def name(self) -> str:
        kind, where, port = self.key
        return f"rtu://{where}" if kind == "rtu" else f"{kind}://{where}:{port}"

    async def transact(
        self,
        device: str,
        call: Callable[[AsyncModbusTcpClient | AsyncModbusSerialClient], Awaitable[ModbusPDU]],
    ) -> ModbusPDU:
        """Run one request under the bus lock; raises DeviceTimeout or ExceptionReply."""
        async with self.lock:
            try:
                if not self.client.connected and not await self.client.connect():
                    raise NoConnection(device, f"cannot connect to {self.name}")
                self.requests += 1
                response = await call(self.client)
            except (TimeoutError, ModbusException, OSError) as exc:
                raise DeviceTimeout(device, f"{type(exc).__name__}: {exc}") from exc
            finally:
                if self.frame_gap_s:
                    await asyncio.sleep(self.frame_gap_s)  # RTU silence, not synchronisation
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            kind = IllegalAddress if code == ILLEGAL_DATA_ADDRESS else ExceptionReply
            raise kind(device, code, str(response))
        return response

    async def read(
        self, device: str, table: RegisterType, unit_id: int, address: int, count: int
    ) -> list[int]:
        """Registers (or bits as 0/1) of one block."""

        async def call(client: AsyncModbusTcpClient | AsyncModbusSerialClient) -> ModbusPDU:
            if table is RegisterType.HOLDING:
                return await client.read_holding_registers(address, count=count, device_id=unit_id)
            if table is RegisterType.INPUT:
                return await client.read_input_registers(address, count=count, device_id=unit_id)
            if table is RegisterType.COIL:
                return await client.read_coils(address, count=count, device_id=unit_id)
            return await client.read_discrete_inputs(address, count=count, device_id=unit_id)

        response = await self.transact(device, call)
        if response.function_code != READ_FUNCTION[table]:
            raise BadReply(device, f"function {response.function_code} answers a {table} read")
        if table.is_bit:
            if len(response.bits) < count:
                raise BadReply(device, f"{len(response.bits)} bits for a read of {count}")
            return [1 if b else 0 for b in response.bits[:count]]
        if len(response.registers) != count:
            raise BadReply(device, f"{len(response.registers)} registers for a read of {count}")
        return list(response.registers)

    async def write(
        self,
        device: str,
        table: RegisterType,
        unit_id: int,
        address: int,
        values: Sequence[int],
        *,
        single_function: int = 6,
    ) -> None:
        """Write holding registers (function 16, or `single_function` 6 or 16 for one) or one
        coil (function 5)."""

        async def call(client: AsyncModbusTcpClient | AsyncModbusSerialClient) -> ModbusPDU:
            if table is RegisterType.COIL:
                return await client.write_coil(address, bool(values[0]), device_id=unit_id)
            if len(values) == 1 and single_function == 6:
                return await client.write_register(address, values[0], device_id=unit_id)
            return await client.write_registers(address, list(values), device_id=unit_id)

        await self.transact(device, call)
