"""The simulated EV charger over Modbus TCP (firmware-sim on loopback, manual clock): a current
limit written to holding register 100 reads back, and the charger's power follows it at the
next physics step."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from firmware_sim import Scenario, load_profiles, run

REPO = Path(__file__).resolve().parents[3]


async def test_current_limit_write_over_modbus_sheds_power() -> None:
    scenario = Scenario.model_validate(
        {"seed": 4, "speed": 0, "start": "2025-01-06T09:05:00Z", "utc_offset_h": 0,
         "physics_step_s": 10,
         "devices": [{"id": "ev", "profile": "ev-charger",
                      "physics": {"open_hour": 8, "close_hour": 18}}]}
    )  # fmt: skip
    async with run(scenario, load_profiles(REPO / "config" / "profiles")) as sim:
        sim.clock.advance(60)
        assert sim.value("ev", "power") == pytest.approx(3 * 230 * 32)
        client = AsyncModbusTcpClient("127.0.0.1", port=sim.endpoints["ev"].port, timeout=2)
        await client.connect()
        try:
            limit = await client.read_holding_registers(100, count=1, device_id=1)
            assert limit.registers == [320]  # 32.0 A
            rr = await client.write_register(100, 100, device_id=1)  # 10.0 A
            assert not rr.isError()
            back = await client.read_holding_registers(100, count=1, device_id=1)
            assert back.registers == [100]
            sim.clock.advance(60)
            assert sim.value("ev", "power") == pytest.approx(3 * 230 * 10)
            power = await client.read_input_registers(0, count=2, device_id=1)
            assert (power.registers[0] << 16 | power.registers[1]) == (3 * 230 * 10)
            over = await client.write_register(100, 400, device_id=1)  # 40 A: above max
            assert over.isError()
        finally:
            client.close()
