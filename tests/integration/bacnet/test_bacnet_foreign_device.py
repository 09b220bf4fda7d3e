"""Foreign-device registration across subnets: a bacpypes3 BBMD on loopback, the edge's
BacnetClient registered with it (`foreign_bbmd`), and the BBMD's foreign device table read
with a raw BVLL Read-Foreign-Device-Table (ASHRAE 135 Annex J.2.4/J.2.5) over a plain UDP
socket: the client is in it with its TTL. Then a controller is discovered through the BBMD."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from contextlib import AsyncExitStack

import pytest
from bacpypes3.app import Application
from bacpypes3.argparse import SimpleArgumentParser

from firmware_sim.bacnet import AirHandler, serve_bacnet
from peakline_edge.bacnet import BacnetClient
from peakline_testing.waiting import eventually

pytestmark = pytest.mark.timeout(60)
CLIENT_PORT, BBMD_PORT = 47818, 47819
TTL_S = 60


def foreign_device_table(bbmd: tuple[str, int], local: str) -> list[tuple[str, int, int]]:
    """(ip:port, ttl s, remaining s) of each entry, read with BVLL function 0x06."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((local, 0))
        s.settimeout(2.0)
        s.sendto(bytes([0x81, 0x06, 0x00, 0x04]), bbmd)
        data, _ = s.recvfrom(1500)
    assert data[:2] == bytes([0x81, 0x07]), data.hex()  # Read-FDT-Ack
    assert struct.unpack(">H", data[2:4])[0] == len(data)
    out = []
    for at in range(4, len(data), 10):
        ip = socket.inet_ntoa(data[at : at + 4])
        port, ttl, remain = struct.unpack(">HHH", data[at + 4 : at + 10])
        out.append((f"{ip}:{port}", ttl, remain))
    return out


async def test_client_registers_as_foreign_device_with_the_bbmd() -> None:
    net = random.Random().randrange(2, 250)
    bbmd_host, client_host = f"127.{net}.37.1", f"127.{net}.37.9"
    ahu_host = f"127.{net}.37.2"
    argv = ["--address", f"{bbmd_host}/8:{BBMD_PORT}", "--instance", "990", "--bbmd"]
    argv += [f"{bbmd_host}:{BBMD_PORT}"]
    bbmd = Application.from_args(SimpleArgumentParser().parse_args(argv))
    try:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(serve_bacnet(AirHandler(1001, "ahu-1"), ahu_host))
            client = await stack.enter_async_context(
                BacnetClient(
                    f"{client_host}/8:{CLIENT_PORT}",
                    timeout_s=1.0,
                    foreign_bbmd=f"{bbmd_host}:{BBMD_PORT}",
                    foreign_ttl_s=TTL_S,
                )
            )
            me = f"{client_host}:{CLIENT_PORT}"

            def registered() -> bool:
                try:
                    table = foreign_device_table((bbmd_host, BBMD_PORT), client_host)
                except TimeoutError:  # UDP: a lost datagram is asked again
                    return False
                return any(entry[0] == me for entry in table)

            await eventually(
                lambda: asyncio.to_thread(registered), 20, "the client in the BBMD's FDT"
            )
            # (in a thread: the BBMD answers on this event loop)
            table = await asyncio.to_thread(
                foreign_device_table, (bbmd_host, BBMD_PORT), client_host
            )
            [entry] = table
            assert entry[0] == me and entry[1] == TTL_S
            # a foreign device still reaches controllers by unicast
            found = await client.discover(ahu_host)
            assert found.instance == 1001
    finally:
        bbmd.close()
