"""From physical values to what a device reports: measurement faults, applied in one place for
the live servers (one sample) and the offline renderer (a series)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from firmware_sim.faults import PHYSICAL, SILENT, WIRE_ONLY, Injected, apply_series
from firmware_sim.physics.noise import F64
from firmware_sim.scenario import FaultKind
from peakline_core.config import ByteOrder, DataType, ModbusPoint, ModbusProfile, MqttProfile
from peakline_core.registers import decode_value, encode_value

SWAPPED = {
    ByteOrder.ABCD: "DCBA",
    ByteOrder.DCBA: "ABCD",
    ByteOrder.CDAB: "BADC",
    ByteOrder.BADC: "CDAB",
}


def point_names(profile: ModbusProfile | MqttProfile) -> list[str]:
    if isinstance(profile, ModbusProfile):
        return [p.name for p in profile.points if p.dtype is not DataType.STRING]
    return [f.name for f in profile.fields]


def covers(inj: Injected, point: ModbusPoint | None, name: str) -> bool:
    """Does the fault act on this point? Device-wide faults act on all; exception faults on
    the points overlapping their address range."""
    if inj.kind is FaultKind.EXCEPTION and inj.spec.first is not None and point is not None:
        last = inj.spec.last if inj.spec.last is not None else inj.spec.first
        return point.address <= last and point.address + point.width - 1 >= inj.spec.first
    return inj.fault.point is None or inj.fault.point == name


def modulus(
    point: ModbusPoint | None, inj: Injected, consts: dict[str, float | str]
) -> float | None:
    """A counter's wrap value in engineering units."""
    if inj.spec.modulus is not None:
        return inj.spec.modulus
    if point is None or point.rollover is None:
        return None
    sf = consts.get(point.scale_factor or "", 0)
    return float(float(point.rollover) * point.scale * 10.0 ** float(sf))


def wrong_order(point: ModbusPoint, inj: Injected) -> ByteOrder:
    return ByteOrder(inj.spec.byte_order or SWAPPED[point.byte_order])


def garble(point: ModbusPoint, value: float, order: ByteOrder, sf: int) -> float:
    """What a client decoding with the profile sees when firmware encoded with `order`."""
    if not math.isfinite(value) or point.dtype in (DataType.BOOL, DataType.BIT):
        return value
    regs = encode_value(point.model_copy(update={"byte_order": order}), value, sf)
    out = decode_value(point, regs, sf)
    return float("nan") if out is None else float(out)


def apply_faults(
    faults: list[Injected],
    captured: dict[int, float],
    profile: ModbusProfile | MqttProfile,
    consts: dict[str, float | str],
    ts: npt.NDArray[np.int64],
    values: dict[str, F64],
    garble_endian: bool = True,
) -> dict[str, F64]:
    """Reported values of one device's points at times ts, with its faults applied.

    garble_endian=False leaves wrong_endian out: the wire encoder applies it itself."""
    points = {p.name: p for p in profile.points} if isinstance(profile, ModbusProfile) else {}
    out = dict(values)
    for inj in faults:
        if inj.kind in WIRE_ONLY or (inj.kind in PHYSICAL and inj.kind is not FaultKind.REBOOT):
            continue
        for name in list(out):
            point = points.get(name)
            if not covers(inj, point, name):
                continue
            if inj.kind is FaultKind.WRONG_ENDIAN:
                if point is None or not garble_endian:
                    continue
                win = inj.window(ts)
                sf = int(float(consts.get(point.scale_factor or "", 0)))
                order = wrong_order(point, inj)
                series = out[name].copy()
                for i in np.flatnonzero(win):
                    series[i] = garble(point, float(series[i]), order, sf)
                out[name] = series
            elif inj.kind in SILENT:
                out[name] = np.where(inj.window(ts), np.nan, out[name])
            else:
                out[name] = apply_series(
                    inj, ts, out[name], captured.get(inj.id), modulus(point, inj, consts)
                )
    return out
