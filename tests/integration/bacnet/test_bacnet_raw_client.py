"""An independent BACnet client reads the simulator, as mbpoll checks the Modbus simulator:
ReadProperty frames built byte by byte per ANSI/ASHRAE 135 (BVLL Annex J, NPDU clause 6,
APDU clause 20) over a plain UDP socket, and the replies parsed here; no bacpypes3 on this
side. It also sees what the edge wrote at priority 8. (A second library was the first
choice: bac-py needs Python 3.13, BAC0 sits on bacpypes3 itself.) The codec is pinned by the
standard's own example (Annex F.3.5: analog input 5's present-value, 72.4) before it is used
on the wire."""

from __future__ import annotations

import asyncio
import random
import socket
import struct

import pytest

from firmware_sim.bacnet import AirHandler, ChillerPlant, serve_bacnet
from peakline_edge.bacnet import BacnetClient

pytestmark = pytest.mark.timeout(60)
OBJECT_TYPES = {"analog-input": 0, "analog-value": 2}
PRESENT_VALUE, PRIORITY_ARRAY, UNITS = 85, 87, 117
DEGREES_CELSIUS = 62


def read_property_apdu(
    invoke_id: int, object_type: str, instance: int, prop: int, index: int | None = None
) -> bytes:
    """Confirmed-Request ReadProperty (service 12), max APDU 1476, no segmentation."""
    oid = OBJECT_TYPES[object_type] << 22 | instance
    body = bytes([0x00, 0x05, invoke_id, 0x0C, 0x0C]) + oid.to_bytes(4, "big")
    body += bytes([0x19, prop])  # context tag 1, one octet
    if index is not None:
        body += bytes([0x29, index])  # context tag 2: property array index
    return body


def frame(apdu: bytes) -> bytes:
    """BVLL Original-Unicast-NPDU around an NPDU (version 1, expecting a reply)."""
    npdu = bytes([0x01, 0x04]) + apdu
    return bytes([0x81, 0x0A]) + struct.pack(">H", 4 + len(npdu)) + npdu


def parse_read_ack(data: bytes, invoke_id: int) -> float | int | None:
    """The value of a ReadProperty Complex-ACK in a BVLL frame: REAL, ENUMERATED or NULL."""
    assert data[0] == 0x81 and struct.unpack(">H", data[2:4])[0] == len(data), data.hex()
    npdu = data[4:]
    assert npdu[0] == 0x01 and npdu[1] & 0x08 == 0, data.hex()  # version 1, no source address
    apdu = npdu[2:]
    assert apdu[0] >> 4 == 3 and apdu[1] == invoke_id and apdu[2] == 0x0C, data.hex()
    at = apdu.index(0x3E, 3) + 1  # past the opening tag 3 (object id and property before it)
    tag, value = apdu[at], apdu[at + 1 :]
    assert apdu[-1] == 0x3F, data.hex()  # closing tag 3
    if tag == 0x00:  # application NULL: an empty priority slot
        return None
    if tag == 0x44:  # application REAL, 4 octets
        return float(struct.unpack(">f", value[:4])[0])
    if tag == 0x91:  # application ENUMERATED, 1 octet
        return int(value[0])
    raise AssertionError(f"unexpected application tag {tag:#x} in {data.hex()}")


def test_codec_against_the_standards_example() -> None:
    """ANSI/ASHRAE 135 Annex F.3.5: ReadProperty of analog-input 5 present-value -> 72.4."""
    request = read_property_apdu(1, "analog-input", 5, PRESENT_VALUE)
    assert request.hex() == "0005010c0c0000000519" + "55"  # (max APDU 1476 here, not 50)
    ack = bytes.fromhex("30010c0c00000005195" + "53e444290cccd3f")
    wrapped = bytes([0x81, 0x0A, 0x00, 4 + 2 + len(ack), 0x01, 0x00]) + ack
    assert parse_read_ack(wrapped, 1) == pytest.approx(72.4)


class RawClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()
        self.invoke = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.replies.put_nowait(data)

    async def read(
        self, transport: asyncio.DatagramTransport, host: str, *args: object
    ) -> float | int | None:
        self.invoke = (self.invoke + 1) % 256
        transport.sendto(frame(read_property_apdu(self.invoke, *args)), (host, 47808))  # type: ignore[arg-type]
        async with asyncio.timeout(5):
            return parse_read_ack(await self.replies.get(), self.invoke)


async def test_raw_read_property_sees_the_ground_truth_and_slot_8() -> None:
    net = random.Random().randrange(2, 250)
    ahu_host, plant_host = f"127.{net}.34.2", f"127.{net}.34.3"
    ahu, plant = AirHandler(1001, "ahu-1", supply_temp_c=13.25), ChillerPlant(2001, "ch-1")
    loop = asyncio.get_running_loop()
    async with serve_bacnet(ahu, ahu_host), serve_bacnet(plant, plant_host):
        plant.step(600.0)
        transport, client = await loop.create_datagram_endpoint(
            RawClient, local_addr=(f"127.{net}.34.9", 0), family=socket.AF_INET
        )
        try:
            read = client.read
            assert await read(transport, ahu_host, "analog-input", 1, PRESENT_VALUE) == 13.25
            assert await read(transport, ahu_host, "analog-value", 1, UNITS) == DEGREES_CELSIUS
            assert await read(transport, ahu_host, "analog-value", 1, PRIORITY_ARRAY, 8) is None
            power = await read(transport, plant_host, "analog-input", 4, PRESENT_VALUE)
            assert power == pytest.approx(plant.present_value("chiller_power"), rel=1e-6)
            # the edge's write at priority 8 is seen by the independent client
            async with BacnetClient(f"127.{net}.34.8/8:47814", timeout_s=2.0) as edge:
                await edge.write(ahu_host, "analog-value", 1, 23.5)
            assert await read(transport, ahu_host, "analog-value", 1, PRIORITY_ARRAY, 8) == 23.5
            assert await read(transport, ahu_host, "analog-value", 1, PRESENT_VALUE) == 23.5
        finally:
            transport.close()
