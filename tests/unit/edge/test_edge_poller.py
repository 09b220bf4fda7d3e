"""DevicePoller cycles against a real Modbus TCP peer: interval groups, readings to the sink,
availability transitions published once, no readings from failed probes."""

from __future__ import annotations

from peakline_core.config.platform import Device, ModbusTcp
from peakline_core.config.profiles import ModbusProfile
from peakline_core.wire import DeviceStatus, Quality
from peakline_edge.bus import ModbusBus
from peakline_edge.device import ModbusDevice
from peakline_edge.metrics import EdgeMetrics
from peakline_edge.poller import DevicePoller
from peakline_edge.schedule import NS, Availability
from peakline_edge.spool import PendingBatch
from peakline_testing.modbus_peer import Unit, modbus_peer

PROFILE = ModbusProfile.model_validate(
    {
        "name": "m",
        "kind": "meter",
        "points": [
            {"name": "power", "table": "holding", "address": 0, "dtype": "int16"},
            {
                "name": "energy",
                "table": "holding",
                "address": 1,
                "dtype": "uint32",
                "interval_s": 60,
            },
        ],
    }
)


async def test_groups_sink_and_availability_transitions() -> None:
    unit = Unit(holding={0: 5, 1: 0, 2: 9})
    batches: list[PendingBatch] = []
    statuses: list[DeviceStatus] = []

    async def sink(batch: PendingBatch) -> None:
        batches.append(batch)

    async with modbus_peer({1: unit}) as peer:
        conn = ModbusTcp(
            driver="modbus-tcp", host="127.0.0.1", port=peer.port, timeout_s=0.2, retries=0
        )
        device = Device(
            id="d1", site="s1", agent="gw1", profile="m", connection=conn, poll_interval_s=1
        )
        async with ModbusBus(conn) as bus:
            poller = DevicePoller(
                ModbusDevice(device, PROFILE, bus),
                "gw1",
                sink,
                statuses.append,
                EdgeMetrics(),
                availability=Availability(fail_after=2, probe_min_s=1),
            )
            assert {k: [p.name for p in v] for k, v in poller.groups.items()} == {
                NS: ["power"],
                60 * NS: ["energy"],
            }
            await poller.cycle(PROFILE.points)
            assert [(r.point, r.value) for r in batches[-1].readings] == [
                ("power", 5),
                ("energy", 9),
            ]
            assert [s.state for s in statuses] == ["online"]
            unit.silent = True
            for _ in range(4):
                await poller.cycle(poller.groups[NS])
            # two error batches before the device is declared unavailable, none after
            assert len(batches) == 3
            assert {r.quality for b in batches[1:] for r in b.readings} == {Quality.ERROR}
            assert [s.state for s in statuses] == ["online", "unavailable"]
            unit.silent = False
            await poller.cycle(poller.groups[NS])
            assert [s.state for s in statuses] == ["online", "unavailable", "online"]
            assert batches[-1].readings[0].quality is Quality.GOOD
