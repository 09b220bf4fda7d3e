"""firmware-sim wire fixtures: a district served on free TCP ports and on a socat serial pair,
with a manual clock (speed 0) so the values read equal the simulator's state exactly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from firmware_sim import Scenario, Simulation, load_profiles, run
from peakline_testing.servers import SerialPair

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def profiles() -> dict:
    return load_profiles(REPO / "config" / "profiles")


def district(serial_path: str) -> Scenario:
    rtu = {"driver": "modbus-rtu", "port": serial_path}
    return Scenario.model_validate(
        {
            "seed": 11,
            "speed": 0,
            "start": "2025-01-06T00:00:00Z",
            "devices": [
                {"id": "meter", "profile": "sdm630", "physics": {"includes": ["hvac", "pv"]}},
                {"id": "pv", "profile": "sunspec-inverter", "physics": {"capacity_kw": 50}},
                {"id": "hvac", "profile": "hvac-controller", "physics": {"mode": 1}},
                {"id": "feeder", "profile": "feeder-meter", "physics": {"feeds": ["meter"]}},
                {"id": "rtu-meter", "profile": "sdm630", "listen": {**rtu, "unit_id": 3}},
                {"id": "rtu-hvac", "profile": "hvac-controller", "listen": {**rtu, "unit_id": 7}},
                {"id": "rtu-pv", "profile": "sunspec-inverter", "listen": {**rtu, "unit_id": 9}},
            ],
        }
    )


@pytest.fixture
async def sim(serial_pair: SerialPair, profiles: dict) -> AsyncIterator[Simulation]:
    async with run(district(serial_pair.a), profiles) as s:
        s.clock.advance(3 * 3600)  # 11:00 local: PV producing, HVAC heating
        yield s
