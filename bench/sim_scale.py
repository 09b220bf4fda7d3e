"""firmware-sim scale benchmark: one process serving a district of N Modbus TCP devices (own
port each) and N MQTT sensors, against a throwaway mosquitto (peakline_testing.servers).

Reports the time from `run()` entry to every listener up, the process RSS, a sweep reading one
register block from every Modbus device, and MQTT messages published in a 5 s window. The
baseline is a 10 + 10 device district measured in the same run. JSON on the last line.

    uv run --frozen python bench/sim_scale.py [--devices 500] [--sensors 500]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import psutil
from pymodbus.client import AsyncModbusTcpClient

from firmware_sim import Scenario, load_profiles, run
from peakline_testing.servers import Mosquitto

REPO = Path(__file__).resolve().parent.parent
PROFILES = ["sdm630", "sunspec-inverter", "hvac-controller", "sdm630"]


def district(n_modbus: int, n_mqtt: int) -> Scenario:
    devices: list[dict[str, object]] = []
    for i in range(n_modbus):
        devices.append({"id": f"d{i}", "profile": PROFILES[i % len(PROFILES)]})
    devices.append({"id": "feeder", "profile": "feeder-meter", "physics": {"feeds": ["d0", "d3"]}})
    for i in range(n_mqtt):
        devices.append(
            {"id": f"s{i}", "profile": "air-sensor", "listen": {"driver": "mqtt", "interval_s": 10}}
        )
    return Scenario.model_validate({"seed": 1, "speed": 1, "devices": devices})


async def measure(n_modbus: int, n_mqtt: int, mqtt_url: str) -> dict[str, float]:
    profiles = load_profiles(REPO / "config" / "profiles")
    scenario = district(n_modbus, n_mqtt)
    t0 = time.perf_counter()
    async with run(scenario, profiles, mqtt_url=mqtt_url) as sim:
        start_s = time.perf_counter() - t0
        rss_mb = psutil.Process().memory_info().rss / 2**20
        t1 = time.perf_counter()
        for ep in sim.endpoints.values():
            if ep.driver != "modbus-tcp":
                continue
            client = AsyncModbusTcpClient("127.0.0.1", port=ep.port, timeout=5)
            await client.connect()
            table = "holding" if sim.devices[ep.device].profile.kind == "pv_inverter" else "input"
            fn = (
                client.read_holding_registers if table == "holding" else client.read_input_registers
            )
            address = 40083 if table == "holding" else 0
            rr = await fn(address, count=2, device_id=1)
            client.close()
            assert not rr.isError(), ep
        sweep_s = time.perf_counter() - t1
        before = sim.publisher.published if sim.publisher else 0
        await asyncio.sleep(5.0)  # a measurement window, not a synchronisation
        published = (sim.publisher.published if sim.publisher else 0) - before
    return {
        "modbus_devices": n_modbus + 1,
        "mqtt_sensors": n_mqtt,
        "start_s": round(start_s, 3),
        "rss_mb": round(rss_mb, 1),
        "read_sweep_s": round(sweep_s, 3),
        "mqtt_msgs_per_s": round(published / 5.0, 1),
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--sensors", type=int, default=500)
    args = ap.parse_args()
    with Mosquitto.create() as broker:
        baseline = await measure(10, 10, broker.url)
        print("baseline", baseline)
        result = await measure(args.devices, args.sensors, broker.url)
        print("district", result)
    print(json.dumps({"bench": "sim_scale", "baseline": baseline, "district": result}))


if __name__ == "__main__":
    asyncio.run(main())
