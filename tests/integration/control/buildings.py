"""Simulated buildings for the demand-response end-to-end test, with a load model simpler
than firmware-sim's (test_with_firmware_sim.py runs the real simulator): each building is a
Modbus TCP peer with an HVAC controller (unit 1, the repository's hvac-controller register
map) and a meter (unit 2) whose load follows the HVAC setpoint:
load = base + running * k * (30 - setpoint) kW."""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass

import aiomqtt

from peakline_core.storage import Row
from peakline_core.storage.schema import READING
from peakline_core.wire import TelemetryBatch, decode_telemetry
from peakline_store.sqlite import SqliteStore
from peakline_testing.modbus_peer import Peer, Unit
from tests.integration.control.control_rig import hvac_unit

METER_PROFILE = {
    "protocol": "modbus",
    "name": "building-meter",
    "kind": "meter",
    "points": [{"name": "power_total", "unit": "W", "table": "input", "address": 0,
                "dtype": "float32"}],
}  # fmt: skip


@dataclass
class Building:
    """Physics of one building; `step()` refreshes the meter from the HVAC's registers."""

    peer: Peer
    base_kw: float
    kw_per_degc: float

    @property
    def hvac(self) -> Unit:
        return self.peer.units[1]

    @property
    def meter(self) -> Unit:
        return self.peer.units[2]

    def load_kw(self) -> float:
        setpoint = self.hvac.holding[100] / 10
        running = bool(self.hvac.coil[0])
        return self.base_kw + (self.kw_per_degc * max(0.0, 30 - setpoint) if running else 0.0)

    def step(self) -> None:
        hi, lo = struct.unpack(">HH", struct.pack(">f", self.load_kw() * 1000))
        self.meter.input[0], self.meter.input[1] = hi, lo


def building_units(setpoint_c: float) -> dict[int, Unit]:
    return {1: hvac_unit(setpoint_c), 2: Unit(input={0: 0, 1: 0})}


async def run_physics(buildings: list[Building], every_s: float = 0.05) -> None:
    """The simulators' clock: recompute every meter (not a test synchronisation)."""
    while True:
        for b in buildings:
            b.step()
        await asyncio.sleep(every_s)


def telemetry_rows(batch: TelemetryBatch) -> list[Row]:
    """What ingest stores for a batch (a stand-in until the ingest service lands)."""
    return [
        Row(
            READING,
            {"site": batch.site, "device": batch.device, "point": r.point},
            {"value": float(r.value)},
            r.ts,
        )
        for r in batch.readings
        if isinstance(r.value, int | float) and r.quality.value == "good"
    ]


async def store_telemetry(host: str, port: int, prefix: str, store: SqliteStore) -> None:
    """Telemetry into the store (stand-in for the ingest service in this test)."""
    async with aiomqtt.Client(host, port) as client:
        await client.subscribe(f"{prefix}/v1/tele/#", qos=1)
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            await store.write(telemetry_rows(decode_telemetry(message.payload)))
