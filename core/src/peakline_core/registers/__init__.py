"""Modbus register encoding, decoding and request planning (pure)."""

from peakline_core.registers.codec import BlockDecoder, decode_value, encode_value, raw_values
from peakline_core.registers.planner import (
    Cut,
    PlanLimits,
    ReadRequest,
    naive_request_count,
    plan_reads,
    split_request,
    with_scale_factors,
)

__all__ = [
    "BlockDecoder",
    "Cut",
    "PlanLimits",
    "ReadRequest",
    "decode_value",
    "encode_value",
    "naive_request_count",
    "plan_reads",
    "raw_values",
    "split_request",
    "with_scale_factors",
]
