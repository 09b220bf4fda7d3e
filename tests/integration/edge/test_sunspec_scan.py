"""`peakline sunspec scan` against firmware-sim's two SunSpec layouts (issue 24): models 1 + 103
at 40000 (integers with scale factors) and 1, 120, 113 (float), a vendor model and 123 at
50000, over Modbus TCP and RTU over TCP. The generated profile passes `peakline config check`,
the real edge stack polls it and its values match the simulator's ground truth with scale
factors applied; a model-123 limit written through it curtails the simulated inverter. The
simulator's clock is manual, so its values do not move while the edge reads them."""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from firmware_sim import Scenario, load_profiles, run
from firmware_sim.render import render
from peakline_core.config import Device, DeviceProfile, ModbusProfile
from peakline_core.wire import Quality
from peakline_edge.bus import ModbusBus
from peakline_edge.device import ModbusDevice
from peakline_edge.sunspec.profile import profile_from_chain, profile_yaml
from peakline_edge.sunspec.scan import scan
from peakline_testing.configs import agent, site, write_config_dir
from peakline_testing.servers import SerialPair

pytestmark = pytest.mark.timeout(180)
REPO = Path(__file__).resolve().parents[3]
CAPACITY_KW = 50.0
# the simulator's point for each SunSpec point of the inverter models (m103 / m113 alike)
INVERTER = {
    "A": "ac_current", "AphA": "ac_current_a", "AphB": "ac_current_b", "AphC": "ac_current_c",
    "PhVphA": "voltage_an", "PhVphB": "voltage_bn", "PhVphC": "voltage_cn", "W": "ac_power",
    "Hz": "frequency", "VAr": "reactive_power", "PF": "power_factor", "DCA": "dc_current",
    "DCV": "dc_voltage", "DCW": "dc_power", "TmpCab": "cabinet_temp",
    "TmpSnk": "heatsink_temp", "St": "operating_state",
}  # fmt: skip
LAYOUTS: dict[str, dict[str, Any]] = {
    "sunspec-inverter": {
        "base": 40000,
        "chain": [1, 103],
        "truth": {
            **{f"m103.{k}": v for k, v in INVERTER.items()},
            "m103.A_SF": "current_sf",
            "m103.V_SF": "voltage_sf",
            "m103.W_SF": "ac_power_sf",
            "m103.Hz_SF": "frequency_sf",
            "m103.WH_SF": "energy_sf",
            "m103.Tmp_SF": "temp_sf",
        },
        "not_implemented": [],
    },
    "sunspec-float-inverter": {
        "base": 50000,
        "chain": [1, 120, 113, 64900, 123],
        "truth": {
            **{f"m113.{k}": v for k, v in INVERTER.items()},
            "m120.DERTyp": "der_type",
            "m120.WRtg": "rated_power",
            "m120.VARtg": "rated_va",
            "m120.ARtg": "rated_current",
            "m123.Conn": "connected",
            "m123.WMaxLimPct": "limit_pct",
            "m123.WMaxLim_Ena": "limit_enabled",
            "m123.OutPFSet": "pf_setpoint",
            "m1.DA": "device_address",
        },
        "not_implemented": ["m113.PPVphAB", "m113.VA", "m113.TmpTrns", "m123.VArPct_SF"],
    },
}


def _scenario(profile: str, driver: str) -> Scenario:
    return Scenario.model_validate(
        {
            "seed": 5,
            "speed": 0,
            "start": "2025-06-02T00:00:00Z",
            "devices": [
                {
                    "id": "pv",
                    "profile": profile,
                    "listen": {"driver": driver, "host": "127.0.0.1", "unit_id": 3},
                    "physics": {"capacity_kw": CAPACITY_KW},
                }
            ],
        }
    )


def _device(port: int, driver: str, profile: str = "scanned") -> Device:
    return Device.model_validate(
        {"id": "pv", "site": "s1", "agent": "gw1", "profile": profile,
         "connection": {"driver": driver, "host": "127.0.0.1", "port": port, "unit_id": 3,
                        "timeout_s": 2.0, "retries": 1}}
    )  # fmt: skip


def _config_check(root: Path, profile_text: str, port: int, driver: str) -> Path:
    write_config_dir(
        root,
        sites=[site()],
        agents=[agent("mqtt://127.0.0.1:1883")],
        devices=[_device(port, driver).model_dump(mode="json", exclude_defaults=True)],
    )
    (root / "profiles").mkdir()
    (root / "profiles" / "scanned.yaml").write_text(profile_text)
    return root


async def _cli(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "peakline_cli.main", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await proc.communicate()
    return int(proc.returncode or 0), out.decode() + err.decode()


def _expected(sim: Any, name: str, truth: str, unit: str) -> float:
    value = float(sim.value("pv", truth))
    return value * 1000.0 if unit == "Wh" and truth == "ac_energy" else value


@pytest.mark.parametrize("driver", ["modbus-tcp", "modbus-rtu-over-tcp"])
@pytest.mark.parametrize("layout", list(LAYOUTS))
async def test_scan_profile_polls_the_simulators_values(
    layout: str, driver: str, tmp_path: Path
) -> None:
    spec = LAYOUTS[layout]
    profiles = load_profiles(REPO / "config" / "profiles")
    async with run(_scenario(layout, driver), profiles) as sim:
        sim.clock.advance(9 * 3600)  # mid-morning: the inverter produces
        port = sim.endpoints["pv"].port
        device = _device(port, driver)
        assert device.connection.driver != "mqtt" and device.connection.driver != "bacnet"
        async with ModbusBus(device.connection) as bus:
            found = await scan(bus, 3)
            profile, report = profile_from_chain(found.base, found.models, name="scanned")
            assert found.base == spec["base"]
            assert [m.model_id for m in found.models] == spec["chain"]
            result = await ModbusDevice(device, profile, bus).poll(profile.points)
        text = profile_yaml(profile, report, f"{driver} 127.0.0.1:{port}")
        assert "64900" not in text or "skipped" in text
        root = _config_check(tmp_path / "cfg", text, port, driver)
        code, output = await _cli("config", "check", str(root))
        assert code == 0, output
        reread = TypeAdapter(DeviceProfile).validate_python(yaml.safe_load(text))
        assert reread == profile

        assert result.reachable and not result.failed
        readings = {r.point: r for r in result.readings}
        for name, truth in spec["truth"].items():
            point = profile.point(name)
            reading = readings[name]
            expected = _expected(sim, name, truth, point.unit)
            assert reading.quality is Quality.GOOD, (name, reading)
            assert isinstance(reading.value, int | float)
            sf = readings[point.scale_factor].value if point.scale_factor else 0
            assert isinstance(sf, int | float)
            tolerance = max(10.0**sf, abs(expected) * 1e-6)  # the register's resolution
            assert float(reading.value) == pytest.approx(expected, abs=tolerance), name
        energy = next(p for p in profile.points if p.counter and p.unit == "Wh")
        assert energy.name.endswith(".WH")
        wh = readings[energy.name].value
        assert isinstance(wh, int | float)
        assert float(wh) == pytest.approx(sim.value("pv", "ac_energy") * 1000.0, abs=1.0)
        assert float(sim.value("pv", "ac_power")) > 0.0  # a scan of a sleeping inverter proves less
        for name in spec["not_implemented"]:
            assert readings[name].quality is Quality.STALE and readings[name].value is None
        assert readings["m1.Mn"].value == "peakline-sim"


async def test_model_123_limit_written_through_the_scanned_profile_curtails(
    tmp_path: Path,
) -> None:
    profiles = load_profiles(REPO / "config" / "profiles")
    scenario = _scenario("sunspec-float-inverter", "modbus-tcp")
    async with run(scenario, profiles) as sim:
        sim.clock.advance(5 * 3600)  # a sunny hour of this seed
        device = _device(sim.endpoints["pv"].port, "modbus-tcp")
        assert device.connection.driver == "modbus-tcp"
        async with ModbusBus(device.connection) as bus:
            found = await scan(bus, 3)
            profile, _ = profile_from_chain(found.base, found.models, name="scanned")
            limit = profile.point("m123.WMaxLimPct")
            assert limit.writable is not None and limit.scale_factor == "m123.WMaxLimPct_SF"
            edge = ModbusDevice(device, profile, bus)
            assert await edge.write_point("m123.WMaxLimPct", 20.0) == pytest.approx(20.0)
            assert await edge.write_point("m123.WMaxLim_Ena", 1) == 1
        assert sim.value("pv", "limit_pct") == pytest.approx(20.0)
        writes = [w for w in sim.world.write_log if w.accepted]
        assert [w.values for w in writes] == [(200,), (1,)]  # WMaxLimPct_SF is -1 on the wire
        sim.clock.advance(120)
        now = sim.clock.now()
        limited = sim.value("pv", "ac_power")
        state = sim.value("pv", "operating_state")
    # the same scenario without the write: what the sun alone would have given
    free = render(scenario, profiles, now, now + 1, 1).values[("pv", "ac_power")][0]
    cap = 0.2 * CAPACITY_KW * 1000.0
    assert free > cap  # else the limit would prove nothing
    assert limited == pytest.approx(cap) and state == 5  # throttled


async def test_peakline_sunspec_scan_cli_writes_a_profile_config_check_accepts(
    tmp_path: Path,
) -> None:
    profiles = load_profiles(REPO / "config" / "profiles")
    driver = "modbus-rtu-over-tcp"
    async with run(_scenario("sunspec-float-inverter", driver), profiles) as sim:
        port = sim.endpoints["pv"].port
        out = tmp_path / "profile.yaml"
        code, output = await _cli(
            "sunspec", "scan", "--host", "127.0.0.1", "--port", str(port), "--rtu-over-tcp",
            "--unit", "3", "--name", "scanned", "-o", str(out),
        )  # fmt: skip
        assert code == 0, output
        text = out.read_text()
        assert "64900 at 50160 L=8" in text and "skipped" in text
        profile = TypeAdapter(DeviceProfile).validate_python(yaml.safe_load(text))
        assert isinstance(profile, ModbusProfile) and profile.kind == "pv_inverter"
        assert not any(p.name.startswith("m64900") for p in profile.points)
        code, output = await _cli(
            "config", "check", str(_config_check(tmp_path, text, port, driver))
        )
        assert code == 0, output
        code, output = await _cli(
            "sunspec", "scan", "--host", "127.0.0.1", "--port", str(port), "--rtu-over-tcp",
            "--unit", "3", "--base", "40000", "-o", str(tmp_path / "nothing.yaml"),
        )  # fmt: skip
        assert code == 1 and "no 'SunS' marker at 40000" in output
        assert not math.isnan(sim.value("pv", "ac_power"))


async def test_scan_over_an_rtu_serial_line(serial_pair: SerialPair) -> None:
    profiles = load_profiles(REPO / "config" / "profiles")
    rtu = {"driver": "modbus-rtu", "port": serial_pair.a, "unit_id": 3, "baudrate": 19200}
    scenario = Scenario.model_validate(
        {
            "seed": 5,
            "speed": 0,
            "start": "2025-06-02T00:00:00Z",
            "devices": [
                {"id": "pv", "profile": "sunspec-float-inverter", "listen": rtu},
                {"id": "pv-a", "profile": "sunspec-inverter", "listen": {**rtu, "unit_id": 4}},
            ],
        }
    )
    async with run(scenario, profiles) as sim:
        sim.clock.advance(5 * 3600)
        for unit, device_id, chain in ((3, "pv", [1, 120, 113, 64900, 123]), (4, "pv-a", [1, 103])):
            device = Device.model_validate(
                {"id": device_id, "site": "s1", "agent": "gw1", "profile": "scanned",
                 "connection": {"driver": "modbus-rtu", "port": serial_pair.b, "unit_id": unit,
                                "baudrate": 19200, "timeout_s": 2.0, "retries": 1}}
            )  # fmt: skip
            assert device.connection.driver == "modbus-rtu"
            async with ModbusBus(device.connection) as bus:
                found = await scan(bus, unit)
                profile, _ = profile_from_chain(found.base, found.models, name="scanned")
                power = f"m{chain[-1] if unit == 4 else 113}.W"
                result = await ModbusDevice(device, profile, bus).poll(
                    [profile.point(power), *(p for p in profile.points if p.name.endswith("W_SF"))]
                )
            assert [m.model_id for m in found.models] == chain
            value = {r.point: r.value for r in result.readings}[power]
            assert isinstance(value, int | float)
            assert sim.value(device_id, "ac_power") > 1000.0  # producing: no 0 == 0
            assert value == pytest.approx(sim.value(device_id, "ac_power"), abs=1.0)
