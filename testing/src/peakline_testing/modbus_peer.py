"""A Modbus peer on real sockets for the edge and control tests (a real pymodbus client on the
other side): register tables per unit id, holes that answer illegal-address, a silent mode that
never answers, a log of requests and writes. It serves Modbus TCP on a loopback port and Modbus
RTU on a pseudo-terminal (one end of a socat pair).

The wire is pymodbus' own framers (MBAP header, RTU frame boundaries and CRC-16): the serve loops
here decode requests and send what a `Responder` answers, so the reliability suite's hostile peer
runs on the same loops and writes its malformed frames from correct ones.
"""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from pymodbus.framer import FramerBase, FramerRTU, FramerSocket
from pymodbus.pdu import DecodePDU

ILLEGAL_FUNCTION, ILLEGAL_ADDRESS = 1, 2


@dataclass(frozen=True)
class Request:
    """One decoded request: unit id, transaction id (0 on RTU) and PDU (function code first)."""

    unit: int
    tid: int
    pdu: bytes
    framer: FramerBase = field(repr=False)

    def frame(self, pdu: bytes, unit: int | None = None, tid: int | None = None) -> bytes:
        """`pdu` framed for this line (MBAP header, or RTU address and CRC), as a reply to this
        request unless `unit` or `tid` say otherwise."""
        return self.framer.encode(
            pdu, self.unit if unit is None else unit, self.tid if tid is None else tid
        )


class Hangup(Exception):  # an instruction to the serve loop, not a failure
    """Raised by a responder: drop this client's connection without answering."""


Responder = Callable[[Request], bytes | None]
"""Bytes to send for a request (a whole frame, normally `request.frame(reply_pdu)`), or None."""


class TcpClients:
    """The TCP handlers of one server, so closing it can drop every client and wait for them."""

    def __init__(self) -> None:
        self.handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def serve(
        self, respond: Responder, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers[task] = writer
        framer = FramerSocket(DecodePDU(is_server=True))
        buffer = b""
        try:
            while chunk := await reader.read(4096):
                buffer += chunk
                while True:
                    used, unit, tid, pdu = framer.decode(buffer)
                    if not used:
                        break  # wait for the rest of the frame
                    buffer = buffer[used:]
                    if pdu:
                        reply = respond(Request(unit, tid, pdu, framer))
                        if reply is not None:
                            writer.write(reply)
                            await writer.drain()
        except Hangup:
            writer.transport.abort()
        except ConnectionError:
            pass  # the client went away
        finally:
            writer.close()
            self.handlers.pop(task, None)

    async def drop_all(self) -> None:
        """Drop every client connection and wait for the handlers to end."""
        tasks = list(self.handlers)
        for writer in self.handlers.values():
            writer.transport.abort()
        await asyncio.gather(*tasks, return_exceptions=True)


@asynccontextmanager
async def tcp_server(
    respond: Responder, connections: TcpClients | None = None
) -> AsyncIterator[int]:
    """Serve Modbus TCP on a free loopback port (yielded) until the block ends."""
    conns = connections or TcpClients()
    server = await asyncio.start_server(lambda r, w: conns.serve(respond, r, w), "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await conns.drop_all()
        await server.wait_closed()


@asynccontextmanager
async def rtu_line(path: str, respond: Responder) -> AsyncIterator[None]:
    """Serve Modbus RTU on the pseudo-terminal `path` until the block ends. A frame whose CRC
    does not match is line noise: what was read so far is dropped and the next frame is awaited."""
    framer = FramerRTU(DecodePDU(is_server=True))
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    buffer = b""

    def readable() -> None:
        nonlocal buffer
        try:
            buffer += os.read(fd, 4096)
        except BlockingIOError:
            return
        while buffer:
            used, unit, _, pdu = framer.decode(buffer)
            if not used:
                return  # wait for the rest of the frame
            buffer = buffer[used:]
            if pdu:
                reply = respond(Request(unit, 0, pdu, framer))
                if reply is not None:
                    os.write(fd, reply)

    loop = asyncio.get_running_loop()
    loop.add_reader(fd, readable)
    try:
        yield
    finally:
        loop.remove_reader(fd)
        os.close(fd)


@dataclass
class Unit:
    """One unit id's register tables (address -> 16-bit word; coils and inputs 0/1)."""

    holding: dict[int, int] = field(default_factory=dict)
    input: dict[int, int] = field(default_factory=dict)
    coil: dict[int, int] = field(default_factory=dict)
    discrete: dict[int, int] = field(default_factory=dict)
    silent: bool = False
    counters: set[int] = field(default_factory=set)  # holding uint32s that count their reads
    reads: int = 0  # read requests answered


@dataclass
class Peer:
    """Well-behaved Modbus units answering from their register tables."""

    units: dict[int, Unit]
    port: int = 0
    requests: list[tuple[int, int, int, int]] = field(default_factory=list)  # unit, fc, addr, n
    writes: list[tuple[int, int, int, list[int]]] = field(default_factory=list)
    connections: TcpClients = field(default_factory=TcpClients, repr=False)

    def respond(self, request: Request) -> bytes | None:
        reply = self.answer(request.unit, request.pdu)
        return None if reply is None else request.frame(reply)

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

    async def disconnect_all(self) -> None:
        """Drop every client connection and wait for the handlers to end."""
        await self.connections.drop_all()


@asynccontextmanager
async def modbus_peer(units: dict[int, Unit]) -> AsyncIterator[Peer]:
    """`units` served over Modbus TCP on a free loopback port (`peer.port`)."""
    peer = Peer(units)
    async with tcp_server(peer.respond, peer.connections) as port:
        peer.port = port
        yield peer


@asynccontextmanager
async def rtu_peer(path: str, units: dict[int, Unit]) -> AsyncIterator[Peer]:
    """Serve `units` as Modbus RTU slaves on a pseudo-terminal (one end of a socat pair)."""
    peer = Peer(units)
    async with rtu_line(path, peer.respond):
        yield peer
