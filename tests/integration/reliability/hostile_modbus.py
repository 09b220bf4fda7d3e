"""A hostile Modbus peer on real sockets: a TCP server (and an RTU slave on a pseudo-terminal)
whose unit 1 answers in the way `mode` says, while every other unit answers correctly.

Good answers carry the unit's true registers; hostile answers carry POISON registers, so a
client that accepted one would publish a value nobody ever stored. Modes (TCP): good, silent,
truncated, mbap_length_long, mbap_length_short, wrong_tid, wrong_unit (the neighbour's true
registers under the neighbour's unit id), byte_count_short, byte_count_long, wrong_fc,
exception_N, garbage, oversize (more registers than asked), close (drop the connection).
RTU: good, silent, bad_crc, truncated, wrong_unit, garbage, exception_N.
"""

from __future__ import annotations

import asyncio
import os
import random
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

POISON = 0xBEEF
TCP_MODES = (
    "silent", "truncated", "mbap_length_long", "mbap_length_short", "wrong_tid", "wrong_unit",
    "byte_count_short", "byte_count_long", "wrong_fc", "exception_1", "exception_2",
    "exception_3", "exception_4", "exception_6", "exception_11", "garbage", "oversize", "close",
)  # fmt: skip
RTU_MODES = ("silent", "bad_crc", "truncated", "wrong_unit", "garbage", "exception_4")


@dataclass
class HostilePeer:
    registers: dict[int, list[int]]  # unit id -> holding registers from address 0
    mode: str = "good"
    port: int = 0
    answered: dict[str, int] = field(default_factory=dict)  # mode -> requests answered so
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    _handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = field(default_factory=dict)

    def pdu(self, unit: int, request: bytes, poison: bool = False) -> bytes:
        """The correct reply PDU to read-holding `request` (POISON registers when asked)."""
        fc, address, count = request[0], *struct.unpack(">HH", request[1:5])
        if fc != 3:
            return bytes([fc | 0x80, 1])
        regs = [POISON] * count if poison else self.registers[unit][address : address + count]
        return bytes([fc, 2 * count]) + struct.pack(f">{count}H", *regs)

    def _count(self) -> None:
        self.answered[self.mode] = self.answered.get(self.mode, 0) + 1

    def tcp_reply(self, tid: int, unit: int, request: bytes) -> bytes | None:
        """Bytes to send for one request (None: say nothing)."""
        mbap = lambda t, u, pdu: struct.pack(">HHHB", t, 0, len(pdu) + 1, u) + pdu  # noqa: E731
        if unit != 1 or self.mode == "good":
            return mbap(tid, unit, self.pdu(unit, request))
        self._count()
        mode, fc = self.mode, request[0]
        bad = self.pdu(unit, request, poison=True)
        if mode == "silent":
            return None
        if mode == "truncated":
            return mbap(tid, unit, bad)[:-3]
        if mode == "mbap_length_long":
            return struct.pack(">HHHB", tid, 0, len(bad) + 9, unit) + bad
        if mode == "mbap_length_short":
            return struct.pack(">HHHB", tid, 0, len(bad) - 2, unit) + bad
        if mode == "wrong_tid":
            return mbap((tid + 1) & 0xFFFF, unit, bad)
        if mode == "wrong_unit":
            return mbap(tid, 2, self.pdu(2, request))
        if mode == "byte_count_short":
            return mbap(tid, unit, bytes([fc, bad[1] - 2]) + bad[2:])
        if mode == "byte_count_long":
            return mbap(tid, unit, bytes([fc, bad[1] + 2]) + bad[2:])
        if mode == "wrong_fc":
            return mbap(tid, unit, bytes([4]) + bad[1:])
        if mode.startswith("exception_"):
            return mbap(tid, unit, bytes([fc | 0x80, int(mode.split("_")[1])]))
        if mode == "garbage":
            return bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 40)))
        if mode == "oversize":
            return mbap(tid, unit, bytes([fc, 250]) + struct.pack(">125H", *[POISON] * 125))
        raise AssertionError(mode)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers[task] = writer
        try:
            while True:
                tid, _, length, unit = struct.unpack(">HHHB", await reader.readexactly(7))
                request = await reader.readexactly(length - 1)
                if unit == 1 and self.mode == "close":
                    self._count()
                    writer.transport.abort()
                    return
                reply = self.tcp_reply(tid, unit, request)
                if reply is not None:
                    writer.write(reply)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away
        finally:
            writer.close()
            self._handlers.pop(task, None)


@asynccontextmanager
async def hostile_tcp_peer(registers: dict[int, list[int]]) -> AsyncIterator[HostilePeer]:
    peer = HostilePeer(registers)
    server = await asyncio.start_server(peer._serve, "127.0.0.1", 0)
    peer.port = server.sockets[0].getsockname()[1]
    try:
        yield peer
    finally:
        server.close()
        tasks = list(peer._handlers)
        for writer in peer._handlers.values():
            writer.transport.abort()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def crc16(frame: bytes) -> bytes:
    """Modbus RTU CRC (polynomial 0xA001, little-endian on the wire)."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


def rtu_reply(peer: HostilePeer, frame: bytes) -> bytes | None:
    """Bytes answering one RTU read-holding request frame (unit, fc, addr, count, crc)."""
    unit, request = frame[0], frame[1:-2]
    if unit != 1 or peer.mode == "good":
        out = bytes([unit]) + peer.pdu(unit, request)
        return out + crc16(out)
    peer._count()
    bad = bytes([unit]) + peer.pdu(unit, request, poison=True)
    mode = peer.mode
    if mode == "silent":
        return None
    if mode == "bad_crc":
        crc = crc16(bad)
        return bad + bytes([crc[0] ^ 0xFF, crc[1]])
    if mode == "truncated":
        return (bad + crc16(bad))[:-3]
    if mode == "wrong_unit":
        out = bytes([2]) + peer.pdu(2, request)
        return out + crc16(out)
    if mode == "garbage":
        return bytes(peer.rng.getrandbits(8) for _ in range(peer.rng.randint(1, 40)))
    if mode.startswith("exception_"):
        out = bytes([unit, request[0] | 0x80, int(mode.split("_")[1])])
        return out + crc16(out)
    raise AssertionError(mode)


@asynccontextmanager
async def hostile_rtu_peer(
    path: str, registers: dict[int, list[int]]
) -> AsyncIterator[HostilePeer]:
    """RTU slaves on one end of a socat pseudo-terminal pair (8-byte read requests only)."""
    peer = HostilePeer(registers)
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    buffer = bytearray()

    def readable() -> None:
        try:
            buffer.extend(os.read(fd, 4096))
        except BlockingIOError:
            return
        while len(buffer) >= 8:
            frame = bytes(buffer[:8])
            del buffer[:8]
            if crc16(frame[:-2]) != frame[-2:]:
                buffer.clear()  # resynchronise on the next request
                return
            reply = rtu_reply(peer, frame)
            if reply is not None:
                os.write(fd, reply)

    loop = asyncio.get_running_loop()
    loop.add_reader(fd, readable)
    try:
        yield peer
    finally:
        loop.remove_reader(fd)
        os.close(fd)
