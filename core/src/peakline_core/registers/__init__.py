"""Modbus register encoding, decoding and request planning (pure)."""

from peakline_core.registers.codec import BlockDecoder, decode_value, encode_value, raw_values

__all__ = ["BlockDecoder", "decode_value", "encode_value", "raw_values"]
