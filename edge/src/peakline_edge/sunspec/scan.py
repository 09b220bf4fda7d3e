"""Reading a device's SunSpec map over the edge's `ModbusBus` (TCP, RTU, RTU over TCP).

The marker is looked for at 40000, 0 and 50000 (or the base given); then each model's header
and body are read in turn (bodies in blocks of at most 125 registers) until the end model,
and the image is handed to `chain.parse_chain`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from peakline_core.config.profiles import RegisterType
from peakline_edge.bus import ModbusBus
from peakline_edge.errors import ExceptionReply, SunSpecError
from peakline_edge.sunspec.chain import (
    BASE_ADDRESSES,
    END_ID,
    HEADER,
    MARKER,
    MAX_MODELS,
    ModelBlock,
    is_marker,
    parse_chain,
)

MAX_READ = 125
DEVICE = "sunspec-scan"


@dataclass(frozen=True, slots=True)
class ScanResult:
    """The base address where 'SunS' was found and the models after it."""

    base: int
    models: list[ModelBlock]


async def _read(bus: ModbusBus, unit_id: int, address: int, count: int) -> list[int]:
    out: list[int] = []
    while count > 0:
        n = min(count, MAX_READ)
        out += await bus.read(DEVICE, RegisterType.HOLDING, unit_id, address, n)
        address, count = address + n, count - n
    return out


async def find_base(bus: ModbusBus, unit_id: int, bases: Sequence[int] = BASE_ADDRESSES) -> int:
    """The first base address holding 'SunS'. A device that refuses the read (exception
    reply) at one base is asked at the next; no answer at all is raised as it is."""
    for base in bases:
        try:
            words = await bus.read(DEVICE, RegisterType.HOLDING, unit_id, base, HEADER)
        except ExceptionReply:
            continue
        if is_marker(words):
            return base
    raise SunSpecError(f"no 'SunS' marker at {', '.join(str(b) for b in bases)}")


async def scan(bus: ModbusBus, unit_id: int, base: int | None = None) -> ScanResult:
    """Walk the model chain of unit `unit_id`. A device whose chain stops without an end
    model (the next header is refused) is taken as ending there."""
    start = await find_base(bus, unit_id, (base,) if base is not None else BASE_ADDRESSES)
    image = list(MARKER)  # find_base has just read it
    for _ in range(MAX_MODELS + 1):
        address = start + len(image)
        if address + HEADER > 0x10000:
            raise SunSpecError(f"model chain from {start} runs past register 65535")
        try:
            header = await _read(bus, unit_id, address, HEADER)
        except ExceptionReply:
            break
        image += header
        model_id, length = header
        if model_id == END_ID:
            break
        if address + HEADER + length > 0x10000:
            raise SunSpecError(f"model {model_id} at {address}: length {length} runs past 65535")
        image += await _read(bus, unit_id, address + HEADER, length)
    else:
        raise SunSpecError(f"more than {MAX_MODELS} models from {start}: no end in sight")
    return ScanResult(start, parse_chain(start, image))
