"""A small Modbus TCP peer for edge unit tests (real sockets, real pymodbus client on the other
side): register tables per unit id, holes that answer illegal-address, and a silent mode that
never answers. firmware-sim replaces it in the integration tests."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS = 1, 2


@dataclass
class Unit:
    holding: dict[int, int] = field(default_factory=dict)
    input: dict[int, int] = field(default_factory=dict)
    coil: dict[int, int] = field(default_factory=dict)
    discrete: dict[int, int] = field(default_factory=dict)
    silent: bool = False
    counters: set[int] = field(default_factory=set)  # holding uint32s that count their reads
    reads: int = 0  # read requests answered


@dataclass
class Peer:
    units: dict[int, Unit]
    port: int = 0
    requests: list[tuple[int, int, int, int]] = field(default_factory=list)  # unit, fc, addr, n
    writes: list[tuple[int, int, int, list[int]]] = field(default_factory=list)
    handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = field(default_factory=dict)

    def _table(self, unit: Unit, fc: int) -> dict[int, int]:
        return {1: unit.coil, 2: unit.discrete, 3: unit.holding, 4: unit.input}[fc]

    def answer(self, unit_id: int, pdu: bytes) -> bytes | None:
        unit = self.units.get(unit_id)
        if unit is None or unit.silent:
            return None
        fc = pdu[0]
        if fc in (1, 2, 3, 4):
            address, count = struct.unpack(">HH", pdu[1:5])
            self.requests.append((unit_id, fc, address, count))
            table = self._table(unit, fc)
            for c in unit.counters:
                if fc == 3 and address <= c < address + count:
                    n = (table[c] << 16 | table[c + 1]) + 1
                    table[c], table[c + 1] = n >> 16, n & 0xFFFF
            if any(a not in table for a in range(address, address + count)):
                return bytes([fc | 0x80, ILLEGAL_ADDRESS])
            unit.reads += 1
            values = [table[a] for a in range(address, address + count)]
            if fc in (1, 2):
                data = bytearray((count + 7) // 8)
                for i, v in enumerate(values):
                    if v:
                        data[i // 8] |= 1 << (i % 8)
                return bytes([fc, len(data)]) + bytes(data)
            return bytes([fc, 2 * count]) + struct.pack(f">{count}H", *values)
        if fc in (5, 6):
            address, value = struct.unpack(">HH", pdu[1:5])
            table = unit.coil if fc == 5 else unit.holding
            if address not in table:
                return bytes([fc | 0x80, ILLEGAL_ADDRESS])
            table[address] = (1 if value == 0xFF00 else 0) if fc == 5 else value
            self.writes.append((unit_id, fc, address, [table[address]]))
            return pdu[:5]
        if fc == 16:
            address, count, _ = struct.unpack(">HHB", pdu[1:6])
            values = list(struct.unpack(f">{count}H", pdu[6 : 6 + 2 * count]))
            if any(a not in unit.holding for a in range(address, address + count)):
                return bytes([fc | 0x80, ILLEGAL_ADDRESS])
            for i, v in enumerate(values):
                unit.holding[address + i] = v
            self.writes.append((unit_id, fc, address, values))
            return pdu[:5]
        return bytes([fc | 0x80, ILLEGAL_FUNCTION])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers[task] = writer
        try:
            while True:
                header = await reader.readexactly(7)
                tid, _, length, unit_id = struct.unpack(">HHHB", header)
                pdu = await reader.readexactly(length - 1)
                reply = self.answer(unit_id, pdu)
                if reply is not None:
                    writer.write(struct.pack(">HHHB", tid, 0, len(reply) + 1, unit_id) + reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        finally:
            writer.close()
            self.handlers.pop(task, None)

    async def disconnect_all(self) -> None:
        """Drop every client connection and wait for the handlers to end."""
        tasks = list(self.handlers)
        for writer in self.handlers.values():
            writer.transport.abort()
        await asyncio.gather(*tasks, return_exceptions=True)


@asynccontextmanager
async def modbus_peer(units: dict[int, Unit]) -> AsyncIterator[Peer]:
    peer = Peer(units)
    server = await asyncio.start_server(peer._serve, "127.0.0.1", 0)
    peer.port = server.sockets[0].getsockname()[1]
    try:
        yield peer
    finally:
        server.close()
        await peer.disconnect_all()
        await server.wait_closed()


def crc16(frame: bytes) -> bytes:
    """Modbus RTU CRC (polynomial 0xA001, little-endian on the wire)."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


def _rtu_length(buffer: bytes) -> int | None:
    """Length of the request frame at the head of `buffer`, if enough bytes are there."""
    if len(buffer) < 2:
        return None
    if buffer[1] in (1, 2, 3, 4, 5, 6):
        return 8
    if buffer[1] in (15, 16):
        return 9 + buffer[6] if len(buffer) >= 7 else None
    return 4


@asynccontextmanager
async def rtu_peer(path: str, units: dict[int, Unit]) -> AsyncIterator[Peer]:
    """Serve `units` as Modbus RTU slaves on a pseudo-terminal (one end of a socat pair)."""
    peer = Peer(units)
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    buffer = bytearray()

    def readable() -> None:
        try:
            buffer.extend(os.read(fd, 4096))
        except BlockingIOError:
            return
        while (n := _rtu_length(bytes(buffer))) is not None and len(buffer) >= n:
            frame, rest = bytes(buffer[:n]), buffer[n:]
            buffer[:] = rest
            if crc16(frame[:-2]) != frame[-2:]:
                buffer.clear()  # line noise: resynchronise on the next frame
                return
            reply = peer.answer(frame[0], frame[1:-2])
            if reply is not None:
                out = bytes([frame[0]]) + reply
                os.write(fd, out + crc16(out))

    loop = asyncio.get_running_loop()
    loop.add_reader(fd, readable)
    try:
        yield peer
    finally:
        loop.remove_reader(fd)
        os.close(fd)
