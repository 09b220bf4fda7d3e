"""A hostile Modbus peer on real sockets: a TCP server (and an RTU slave on a pseudo-terminal)
whose unit 1 answers in the way `mode` says, while every other unit answers correctly.

Good answers carry the unit's true registers; hostile answers carry POISON registers, so a
client that accepted one would publish a value nobody ever stored. Modes (TCP): good, silent,
truncated, mbap_length_long, mbap_length_short, wrong_tid, wrong_unit (the neighbour's true
registers under the neighbour's unit id), byte_count_short, byte_count_long, wrong_fc,
exception_N, garbage, oversize (more registers than asked), close (drop the connection).
RTU: good, silent, bad_crc, truncated, wrong_unit, garbage, exception_N.

It runs on the test support's Modbus serve loops (pymodbus' framers decode the requests and
frame the replies, CRC included); a hostile reply is a correct frame, then damaged.
"""

from __future__ import annotations

import random
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from peakline_testing.modbus_peer import Hangup, Request, rtu_line, tcp_server

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

    def pdu(self, unit: int, request: bytes, poison: bool = False) -> bytes:
        """The correct reply PDU to read-holding `request` (POISON registers when asked)."""
        fc, address, count = request[0], *struct.unpack(">HH", request[1:5])
        if fc != 3:
            return bytes([fc | 0x80, 1])
        regs = [POISON] * count if poison else self.registers[unit][address : address + count]
        return bytes([fc, 2 * count]) + struct.pack(f">{count}H", *regs)

    def _count(self) -> None:
        self.answered[self.mode] = self.answered.get(self.mode, 0) + 1

    def tcp_reply(self, request: Request) -> bytes | None:
        """Bytes to send for one request (None: say nothing; Hangup: drop the connection)."""
        tid, unit, pdu = request.tid, request.unit, request.pdu
        if unit == 1 and self.mode == "close":
            self._count()
            raise Hangup
        if unit != 1 or self.mode == "good":
            return request.frame(self.pdu(unit, pdu))
        self._count()
        mode, fc = self.mode, pdu[0]
        bad = self.pdu(unit, pdu, poison=True)
        if mode == "silent":
            return None
        if mode == "truncated":
            return request.frame(bad)[:-3]
        if mode == "mbap_length_long":
            return struct.pack(">HHHB", tid, 0, len(bad) + 9, unit) + bad
        if mode == "mbap_length_short":
            return struct.pack(">HHHB", tid, 0, len(bad) - 2, unit) + bad
        if mode == "wrong_tid":
            return request.frame(bad, tid=(tid + 1) & 0xFFFF)
        if mode == "wrong_unit":
            return request.frame(self.pdu(2, pdu), unit=2)
        if mode == "byte_count_short":
            return request.frame(bytes([fc, bad[1] - 2]) + bad[2:])
        if mode == "byte_count_long":
            return request.frame(bytes([fc, bad[1] + 2]) + bad[2:])
        if mode == "wrong_fc":
            return request.frame(bytes([4]) + bad[1:])
        if mode.startswith("exception_"):
            return request.frame(bytes([fc | 0x80, int(mode.split("_")[1])]))
        if mode == "garbage":
            return bytes(self.rng.getrandbits(8) for _ in range(self.rng.randint(1, 40)))
        if mode == "oversize":
            return request.frame(bytes([fc, 250]) + struct.pack(">125H", *[POISON] * 125))
        raise AssertionError(mode)


@asynccontextmanager
async def hostile_tcp_peer(registers: dict[int, list[int]]) -> AsyncIterator[HostilePeer]:
    peer = HostilePeer(registers)
    async with tcp_server(peer.tcp_reply) as port:
        peer.port = port
        yield peer


def rtu_reply(peer: HostilePeer, request: Request) -> bytes | None:
    """Bytes answering one RTU read-holding request."""
    unit, pdu = request.unit, request.pdu
    if unit != 1 or peer.mode == "good":
        return request.frame(peer.pdu(unit, pdu))
    peer._count()
    bad = request.frame(peer.pdu(unit, pdu, poison=True))
    mode = peer.mode
    if mode == "silent":
        return None
    if mode == "bad_crc":
        return bad[:-2] + bytes([bad[-2] ^ 0xFF, bad[-1]])
    if mode == "truncated":
        return bad[:-3]
    if mode == "wrong_unit":
        return request.frame(peer.pdu(2, pdu), unit=2)
    if mode == "garbage":
        return bytes(peer.rng.getrandbits(8) for _ in range(peer.rng.randint(1, 40)))
    if mode.startswith("exception_"):
        return request.frame(bytes([pdu[0] | 0x80, int(mode.split("_")[1])]))
    raise AssertionError(mode)


@asynccontextmanager
async def hostile_rtu_peer(
    path: str, registers: dict[int, list[int]]
) -> AsyncIterator[HostilePeer]:
    """RTU slaves on one end of a socat pseudo-terminal pair (read requests only)."""
    peer = HostilePeer(registers)
    async with rtu_line(path, lambda request: rtu_reply(peer, request)):
        yield peer
