"""The SunSpec model chain in a register image (pure).

A SunSpec map starts at a base address (40000, 0 or 50000) with the marker 'SunS'
(0x5375 0x6E53), then models one after another: ID, L (registers after the header), L body
registers; an ID of 0xFFFF ends the chain. Addresses are 0-based protocol addresses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from peakline_edge.errors import SunSpecError

MARKER = (0x5375, 0x6E53)
BASE_ADDRESSES = (40000, 0, 50000)
END_ID = 0xFFFF
HEADER = 2
MAX_MODELS = 256


@dataclass(frozen=True, slots=True)
class ModelBlock:
    """One model as read: its ID, the address of its ID register, its length L (registers
    after ID and L) and the registers from ID on (L + 2 of them)."""

    model_id: int
    address: int
    length: int
    registers: tuple[int, ...]

    @property
    def end(self) -> int:
        """The address right after the model (the next model's ID register)."""
        return self.address + HEADER + self.length


def is_marker(words: Sequence[int]) -> bool:
    return tuple(words[:2]) == MARKER


def parse_chain(base: int, image: Sequence[int]) -> list[ModelBlock]:
    """The models of a register image read from `base` (marker included). The image may stop
    right after the last model if the device has no end model; a model running past the
    image's end is an error."""
    if not is_marker(image):
        raise SunSpecError(f"no 'SunS' marker at {base}")
    blocks: list[ModelBlock] = []
    pos = HEADER
    while pos + HEADER <= len(image):
        model_id, length = image[pos], image[pos + 1]
        if model_id == END_ID:
            return blocks
        if pos + HEADER + length > len(image):
            raise SunSpecError(
                f"model {model_id} at {base + pos} has length {length}, past the registers read"
            )
        blocks.append(
            ModelBlock(model_id, base + pos, length, tuple(image[pos : pos + HEADER + length]))
        )
        if len(blocks) > MAX_MODELS:
            raise SunSpecError(f"more than {MAX_MODELS} models from {base}: no end in sight")
        pos += HEADER + length
    return blocks
