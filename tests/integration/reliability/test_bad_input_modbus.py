"""Bad input, Modbus replies -> edge: a hostile peer on real sockets (TCP, and RTU over a socat
pseudo-terminal pair) answers one unit in every broken way while its neighbour on the same bus
answers correctly. The device pollers (real pymodbus client, real ModbusBus) never crash,
never publish a value the device did not hold (hostile replies carry POISON registers), count
each failed request under its reason, keep polling the neighbour, and read true values again
once the peer behaves.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from firmware_sim import Scenario, load_profiles, run
from peakline_core.config.platform import Device, ModbusRtu, ModbusTcp
from peakline_core.config.profiles import ModbusProfile
from peakline_core.registers import decode_value, encode_value
from peakline_core.wire import Quality
from peakline_edge.bus import ModbusBus
from peakline_edge.device import ModbusDevice
from peakline_edge.metrics import EdgeMetrics
from peakline_edge.poller import DevicePoller
from peakline_edge.schedule import Availability
from peakline_edge.spool import PendingBatch
from peakline_testing.servers import SerialPair
from tests.integration.reliability.hostile_modbus import (
    RTU_MODES,
    TCP_MODES,
    HostilePeer,
    hostile_rtu_peer,
    hostile_tcp_peer,
)

pytestmark = pytest.mark.timeout(120)
PROFILE = ModbusProfile.model_validate(
    {
        "name": "m",
        "kind": "meter",
        "points": [
            {"name": "power", "unit": "W", "table": "holding", "address": 0, "dtype": "float32"},
            {"name": "temp", "table": "holding", "address": 2, "dtype": "int16", "scale": 0.1},
            {"name": "status", "table": "holding", "address": 3, "dtype": "uint16"},
        ],
    }
)
TRUTH = {
    1: {"power": 1234.5, "temp": 21.5, "status": 7},
    2: {"power": -50.25, "temp": 19.0, "status": 3},
}
TIMEOUT_S = 1.0  # generous: a slow answer on a loaded machine must not look like a bad one
# What a failed request of each mode is counted as (edge's peakline_edge_errors{kind}).
REASON = {
    "byte_count_short": "bad_reply",  # a well-framed reply with 3 registers for 4
    "wrong_fc": "bad_reply",  # function 4 answering a function 3 read
    "oversize": "bad_reply",  # 125 registers for 4
    **{f"exception_{c}": f"exception_{c}" for c in (1, 2, 3, 4, 6, 11)},
}  # every other mode: no usable reply in time -> "timeout"


def _registers(values: dict[str, float]) -> list[int]:
    return [w for p in PROFILE.points for w in encode_value(p, values[p.name])]


class Rig:
    """Two pollers (unit 1 hostile, unit 2 neighbour) on one bus, their batches and metrics."""

    def __init__(self, bus: ModbusBus, connection: object) -> None:
        self.metrics = EdgeMetrics()
        self.batches: list[PendingBatch] = []
        self.pollers = []
        for unit in (1, 2):
            conn = connection.model_copy(update={"unit_id": unit})  # type: ignore[attr-defined]
            device = Device(id=f"u{unit}", site="s1", agent="gw1", profile="m", connection=conn)
            self.pollers.append(
                DevicePoller(
                    ModbusDevice(device, PROFILE, bus),
                    "gw1",
                    self._sink,
                    lambda status: None,
                    self.metrics,
                    availability=Availability(fail_after=10**6),  # keep polling every cycle
                )
            )

    async def _sink(self, batch: PendingBatch) -> None:
        self.batches.append(batch)

    async def cycle(self) -> list[PendingBatch]:
        """One poll of both devices; the batches it produced."""
        start = len(self.batches)
        for poller in self.pollers:
            await poller.cycle(list(PROFILE.points))
        return self.batches[start:]

    def errors(self, device: str) -> Counter[str]:
        out: Counter[str] = Counter()
        for metric in self.metrics.errors.collect():
            for s in metric.samples:
                if s.name.endswith("_total") and s.labels["device"] == device:
                    out[s.labels["kind"]] += int(s.value)
        return out


def _check_never_wrong(batches: list[PendingBatch]) -> None:
    """Every good reading is the device's true value; the rest are error readings without one."""
    for batch in batches:
        truth = TRUTH[int(batch.device[1:])]
        for r in batch.readings:
            if r.quality is Quality.GOOD:
                assert math.isclose(float(r.value), truth[r.point]), (batch.device, r)  # type: ignore[arg-type]
            else:
                assert (r.quality, r.value) == (Quality.ERROR, None), (batch.device, r)


async def _campaign(rig: Rig, peer: HostilePeer, modes: tuple[str, ...]) -> None:
    assert {b.device for b in await rig.cycle()} == {"u1", "u2"}
    for mode in modes:
        peer.mode = mode
        batches = await rig.cycle()
        _check_never_wrong(batches)
        hostile = [r for b in batches if b.device == "u1" for r in b.readings]
        assert hostile and {r.quality for r in hostile} == {Quality.ERROR}, mode
        neighbour = [r for b in batches if b.device == "u2" for r in b.readings]
        assert {r.quality for r in neighbour} == {Quality.GOOD}, (mode, neighbour)
    expected: Counter[str] = Counter()
    for mode, requests in peer.answered.items():
        expected[REASON.get(mode, "timeout")] += requests
    if "exception_2" in modes:
        # illegal address splits the block until each point is alone: only those count
        expected["exception_2"] = len(PROFILE.points)
    assert rig.errors("u1") == expected
    assert rig.errors("u2") == Counter()
    peer.mode = "good"  # values flow again
    batches = await rig.cycle()
    _check_never_wrong(batches)
    assert {r.quality for b in batches for r in b.readings} == {Quality.GOOD}
    assert {b.device for b in batches} == {"u1", "u2"}
    assert "peakline_edge_errors_total" in generate_latest(rig.metrics.registry).decode()


@asynccontextmanager
async def _tcp() -> AsyncIterator[tuple[Rig, HostilePeer]]:
    async with hostile_tcp_peer({u: _registers(v) for u, v in TRUTH.items()}) as peer:
        conn = ModbusTcp(
            driver="modbus-tcp", host="127.0.0.1", port=peer.port, timeout_s=TIMEOUT_S, retries=0
        )
        async with ModbusBus(conn) as bus:
            yield Rig(bus, conn), peer


@pytest.mark.slow
async def test_hostile_tcp_replies_never_crash_nor_publish_a_wrong_value() -> None:
    async with _tcp() as (rig, peer):
        await _campaign(rig, peer, TCP_MODES)


@pytest.mark.slow
async def test_hostile_rtu_replies_over_a_serial_line(serial_pair: SerialPair) -> None:
    registers = {u: _registers(v) for u, v in TRUTH.items()}
    async with hostile_rtu_peer(serial_pair.b, registers) as peer:
        conn = ModbusRtu(
            driver="modbus-rtu", port=serial_pair.a, baudrate=19200, timeout_s=TIMEOUT_S, retries=0
        )
        async with ModbusBus(conn) as bus:
            await _campaign(Rig(bus, conn), peer, RTU_MODES)


async def test_wrong_endian_firmware_is_published_as_read(repo_root: Path) -> None:
    """firmware-sim's wrong_endian fault: the reply is well-formed, so the edge cannot tell; it
    publishes the value its profile's byte order decodes (good quality), every other point is
    true, and the value is exactly the true one decoded in the mirrored byte order (what an
    operator fixes in the profile). The wire-level fault itself: tests/integration/firmware_sim
    /test_sim_faults.py::test_wrong_endian_firmware_garbles_only_the_faulty_point."""
    scenario = Scenario.model_validate(
        {
            "speed": 0,
            "start": "2025-01-06T00:00:00Z",
            "devices": [{"id": i, "profile": "sdm630"} for i in ("ok", "endian")],
            "faults": [{"kind": "wrong_endian", "device": "endian", "point": "power_total"}],
        }
    )
    async with run(scenario, load_profiles(repo_root / "config" / "profiles")) as sim:
        sim.clock.advance(3 * 3600)
        got = {}
        for name in ("ok", "endian"):
            profile = sim.devices[name].profile
            conn = ModbusTcp(
                driver="modbus-tcp", host="127.0.0.1", port=sim.endpoints[name].port, timeout_s=5
            )
            device = Device(id=name, site="s1", agent="gw1", profile=profile.name, connection=conn)
            async with ModbusBus(conn) as bus:
                result = await ModbusDevice(device, profile, bus).poll(profile.points)
            got[name] = {r.point: r for r in result.readings}
        power = profile.point("power_total")
        swapped = power.model_copy(update={"byte_order": "DCBA"})
        truth = sim.world.values_at("endian", sim.clock.now())
        true_power = truth["power_total"]
        assert got["ok"]["power_total"].value == pytest.approx(
            sim.world.values_at("ok", sim.clock.now())["power_total"], rel=1e-6
        )
        endian = got["endian"]["power_total"]
        assert endian.quality is Quality.GOOD
        assert endian.value != pytest.approx(true_power, rel=1e-3)
        mirrored = decode_value(swapped, encode_value(power, endian.value))
        assert mirrored == pytest.approx(true_power, rel=1e-6)
        for point, reading in got["endian"].items():
            if point != "power_total" and point in truth and reading.quality is Quality.GOOD:
                assert reading.value == pytest.approx(truth[point], rel=1e-5, abs=1e-3), point
