"""The edge's BACnet client against firmware-sim BACnet air handlers on loopback (bacpypes3 on
both sides, real UDP): discovery, a batched read that matches the simulator's ground truth, a
setpoint written at priority 8 and relinquished (the simulator's priority array shows both), a
point out of service refused, and a device that stops answering timing out alone."""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
import yaml

from firmware_sim.bacnet import AirHandler, serve_bacnet
from peakline_core.config.profiles import BacnetProfile
from peakline_edge.bacnet import BacnetClient
from peakline_edge.bacnet.client import rpm_batch_size
from peakline_edge.errors import DeviceTimeout, WriteRefused

pytestmark = pytest.mark.timeout(60)
CLIENT_PORT = 47809  # bacpypes3 treats 127.x on its own port as itself (see firmware_sim.bacnet)


@pytest.fixture
async def rig() -> AsyncIterator[tuple[BacnetClient, dict[str, AirHandler]]]:
    net = random.Random().randrange(2, 250)  # a /24 of our own inside 127/8
    handlers = {
        f"127.{net}.24.2": AirHandler(1001, "ahu-1"),
        f"127.{net}.24.3": AirHandler(1002, "ahu-2", supply_temp_c=13.0),
    }
    async with AsyncExitStack() as stack:
        for host, handler in handlers.items():
            await stack.enter_async_context(serve_bacnet(handler, host))
        client = await stack.enter_async_context(
            BacnetClient(f"127.{net}.24.9/8:{CLIENT_PORT}", timeout_s=1.0)
        )
        yield client, handlers


async def test_discovery_finds_points_names_units_and_types(rig) -> None:  # type: ignore[no-untyped-def]
    client, handlers = rig
    host = next(iter(handlers))
    found = await client.discover(host)
    assert found.instance == 1001 and found.max_apdu >= 480
    by_name = {p.name: p for p in found.points}
    assert set(by_name) == {"supply_temp", "return_temp", "fan_speed", "zone_setpoint"}
    assert by_name["supply_temp"].unit == "degC" and by_name["fan_speed"].unit == "%"
    assert by_name["zone_setpoint"].commandable and not by_name["supply_temp"].commandable


async def test_batched_read_matches_ground_truth(rig) -> None:  # type: ignore[no-untyped-def]
    client, handlers = rig
    for host, truth in handlers.items():
        values = await client.read_present_values(
            host, [("analog-input", 1), ("analog-input", 2), ("analog-input", 3)]
        )
        assert values == {
            ("analog-input", 1): pytest.approx(truth.supply_temp_c),
            ("analog-input", 2): pytest.approx(truth.return_temp_c),
            ("analog-input", 3): pytest.approx(truth.fan_speed_pct),
        }


async def test_setpoint_at_priority_8_then_relinquished(rig) -> None:  # type: ignore[no-untyped-def]
    client, handlers = rig
    host, ahu = next(iter(handlers.items()))
    assert await client.write(host, "analog-value", 1, 23.5) == pytest.approx(23.5)
    assert ahu.priority_slot("zone_setpoint", 8) == pytest.approx(23.5)
    assert await client.relinquish(host, "analog-value", 1) == pytest.approx(21.0)
    assert ahu.priority_slot("zone_setpoint", 8) is None  # the schedule has it again
    assert ahu.present_value("zone_setpoint") == pytest.approx(ahu.schedule_setpoint_c)


async def test_out_of_service_point_is_refused(rig) -> None:  # type: ignore[no-untyped-def]
    client, handlers = rig
    host, ahu = next(iter(handlers.items()))
    ahu.set_out_of_service("zone_setpoint")
    with pytest.raises(WriteRefused):
        await client.write(host, "analog-value", 1, 24.0)
    assert ahu.priority_slot("zone_setpoint", 8) is None


async def test_silent_device_times_out_without_holding_up_the_other(rig) -> None:  # type: ignore[no-untyped-def]
    client, handlers = rig
    live, truth = next(iter(handlers.items()))
    silent = live.rsplit(".", 1)[0] + ".77"  # nobody serves it: no answer at all
    with pytest.raises(DeviceTimeout):
        await client.read_present_values(silent, [("analog-input", 1)])
    values = await client.read_present_values(live, [("analog-input", 1)])
    assert values[("analog-input", 1)] == pytest.approx(truth.supply_temp_c)


async def test_peakline_bacnet_discover_writes_a_profile(rig, tmp_path) -> None:  # type: ignore[no-untyped-def]
    client, handlers = rig
    host = next(iter(handlers))
    bind = client.address.replace(f":{CLIENT_PORT}", f":{CLIENT_PORT + 1}")  # the CLI's own
    out = tmp_path / "ahu.yaml"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "peakline_cli.main", "bacnet", "discover", "--address", host,
        "--bind", bind, "--name", "ahu", "-o", str(out),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    profile = BacnetProfile.model_validate(yaml.safe_load(out.read_text()))
    by_name = {p.name: p for p in profile.points}
    assert by_name["zone_setpoint"].object_type == "analog-value"
    assert by_name["supply_temp"].unit == "degC" and by_name["supply_temp"].instance == 1
    assert all(p.writable is None for p in profile.points)  # the installer adds limits


async def test_bacpypes3_console_reads_the_simulator(rig, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The library's own command-line shell (`python -m bacpypes3`), as mbpoll checks the
    Modbus simulator: it sees the ground truth and the operator's slot 8. It runs in a
    temporary directory: the shell writes its history to `<argv[0]>.history` in its working
    directory ("-m.history" in the repository, before)."""
    client, handlers = rig
    host, ahu = next(iter(handlers.items()))
    await client.write(host, "analog-value", 1, 22.5)
    bind = client.address.replace(f":{CLIENT_PORT}", f":{CLIENT_PORT + 2}")
    script = (
        f"whois {host}\n"
        f"read {host} analog-input,1 present-value\n"
        f"read {host} analog-value,1 present-value\n"
        f"read {host} analog-value,1 units\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bacpypes3", "--address", bind,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, cwd=tmp_path,
    )  # fmt: skip
    out, err = await proc.communicate(script.encode())
    lines = [line.strip() for line in out.decode().splitlines() if line.strip()]
    assert lines[:4] == [f"1001 {host}", str(ahu.supply_temp_c), "22.5", "degrees-celsius"], (
        out.decode(),
        err.decode(),
    )


async def test_small_apdu_reads_in_batches_and_a_device_that_stops_is_isolated(rig) -> None:  # type: ignore[no-untyped-def]
    client, handlers = rig
    live, truth = next(iter(handlers.items()))
    big = AirHandler(1003, "ahu-3", zone_sensors=36)
    host = live.rsplit(".", 1)[0] + ".4"
    objects = [("analog-input", 100 + n) for n in range(36)]
    async with serve_bacnet(big, host):
        values = await client.read_present_values(host, objects, batch=rpm_batch_size(128, "x"))
        assert values == {
            o: pytest.approx(big.present_value(f"zone_temp_{o[1] - 100}")) for o in objects
        }
    # the device has stopped answering: it times out, the other devices still answer
    with pytest.raises(DeviceTimeout):
        await client.read_present_values(host, objects[:3])
    values = await client.read_present_values(live, [("analog-input", 1)])
    assert values[("analog-input", 1)] == pytest.approx(truth.supply_temp_c)
