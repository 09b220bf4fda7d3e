"""Serving a scenario: `async with run(scenario, profiles) as sim:` starts every Modbus
listener (TCP and RTU) and the MQTT sensor publisher, and stops them on exit."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymodbus.framer import FramerType

from firmware_sim.clock import SimClock
from firmware_sim.device import ModbusDevice, WriteRecord
from firmware_sim.errors import ScenarioError, ServeError
from firmware_sim.faults import Fault, Injected, resolve, write_ground_truth
from firmware_sim.measure import apply_faults
from firmware_sim.modbus_server import DeviceBus, SimSerialServer, SimTcpServer
from firmware_sim.mqtt import MqttLogin, SensorPublisher, topic_of
from firmware_sim.profiles import Profile
from firmware_sim.render import injected_faults
from firmware_sim.scenario import (
    FaultKind,
    FaultSpec,
    MqttListen,
    RtuListen,
    RtuOverTcpListen,
    Scenario,
    TcpListen,
)
from firmware_sim.world import World
from peakline_core.config import ModbusProfile, MqttProfile
from peakline_core.wire import Topics


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a device listens: modbus-tcp host/port, modbus-rtu serial path, or an MQTT topic;
    unit_id for Modbus."""

    device: str
    driver: str
    unit_id: int | None = None
    host: str | None = None
    port: int | None = None
    path: str | None = None
    topic: str | None = None
    broker: str | None = None

    def describe(self) -> str:
        if self.driver == "modbus-tcp":
            return f"{self.device}: modbus-tcp {self.host}:{self.port} unit {self.unit_id}"
        if self.driver == "modbus-rtu":
            return f"{self.device}: modbus-rtu {self.path} unit {self.unit_id}"
        if self.driver == "modbus-rtu-over-tcp":
            return f"{self.device}: modbus-rtu-over-tcp {self.host}:{self.port} unit {self.unit_id}"
        return f"{self.device}: mqtt {self.broker or '(no broker)'} topic {self.topic}"


class Simulation:
    """A running scenario (see `run`)."""

    def __init__(self, scenario: Scenario, profiles: dict[str, Profile]) -> None:
        self.scenario = scenario
        self.profiles = profiles
        self.world = World(scenario, profiles)
        self.clock = SimClock(self.world.start_ns, scenario.speed)
        for inj in injected_faults(scenario, self.world.start_ns):
            self.world.add_fault(inj)
        self.devices: dict[str, ModbusDevice] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.tcp_servers: list[SimTcpServer] = []
        self.serial_servers: list[SimSerialServer] = []
        self.publisher: SensorPublisher | None = None

    @property
    def write_log(self) -> list[WriteRecord]:
        """Every Modbus write received, accepted or not, in arrival order."""
        return self.world.write_log

    @property
    def ground_truth(self) -> list[Fault]:
        """Every fault injected (scenario and live), in injection order."""
        return [f.fault for f in self.world.faults]

    def write_ground_truth(self, path: str | Path) -> Path:
        """CSV (.csv) or JSONL (other suffixes); see firmware_sim.faults."""
        return write_ground_truth(self.ground_truth, path)

    def value(self, device_id: str, point: str, at_ns: int | None = None) -> float:
        """The engineering value `device_id` reports for `point` at at_ns (default: now),
        faults included (NaN: no reading)."""
        t = self.clock.now() if at_ns is None else at_ns
        dev = self.devices.get(device_id)
        if dev is not None:
            return dev.values(t)[point]
        spec = self.scenario.device(device_id)
        profile = self.profiles[spec.profile]
        raw = self.world.values_at(device_id, t)
        mine = [f for f in self.world.faults if f.fault.device == device_id]
        ts = np.array([t], dtype=np.int64)
        out = apply_faults(
            mine, self.world.captured, profile, {}, ts, {point: np.array([raw[point]])}
        )
        return float(out[point][0])

    def set_fault(
        self,
        kind: FaultKind | str,
        device: str,
        point: str | None = None,
        duration_s: float | None = None,
        **params: object,
    ) -> Fault:
        """Inject a fault starting now (simulated); it joins the ground truth."""
        self.scenario.device(device)
        now = self.clock.now()
        spec = FaultSpec(
            kind=FaultKind(kind),
            device=device,
            point=point,
            start=self.world.start_ns and _iso(now),
            duration=duration_s,
            **params,
        )
        inj = resolve(spec, self.world.start_ns, len(self.world.faults))
        self.world.add_fault(inj)
        if inj.kind is FaultKind.REBOOT:
            self.drop_connections(device)
        return inj.fault

    def clear_fault(self, fault: Fault) -> Fault:
        """End a fault now; its ground-truth end becomes the current simulated time."""
        now = self.clock.now()
        for i, inj in enumerate(self.world.faults):
            if inj.fault == fault:
                ended = dataclasses.replace(fault, end_ns=max(now, fault.start_ns))
                self.world.faults[i] = Injected(inj.id, inj.spec, ended)
                return ended
        raise ScenarioError(f"no such fault: {fault}")

    def drop_connections(self, device: str) -> None:
        """Close every TCP connection to the servers `device` answers on (a reboot)."""
        for server in self.tcp_servers:
            if any(d.id == device for d in server.bus.units.values()):
                server.drop_connections()


def _iso(t_ns: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t_ns / 1e9, tz=UTC).isoformat()


def _exists(path: str) -> bool:
    return Path(path).exists()


async def _start(
    sim: Simulation, mqtt_url: str | None, login: MqttLogin | None, topic_prefix: str
) -> None:
    sc = sim.scenario
    tcp_groups: dict[tuple[str, int], dict[int, ModbusDevice]] = {}
    rtu_tcp_groups: dict[tuple[str, int], dict[int, ModbusDevice]] = {}
    rtu_groups: dict[str, tuple[RtuListen, dict[int, ModbusDevice]]] = {}
    sensors = []
    for spec in sc.devices:
        profile = sim.profiles[spec.profile]
        listen = spec.listen
        if isinstance(profile, MqttProfile):
            if not isinstance(listen, MqttListen):
                raise ScenarioError(f"{spec.id}: an MQTT profile needs listen.driver mqtt")
            sensors.append((spec, profile))
            sim.endpoints[spec.id] = Endpoint(
                spec.id, "mqtt", topic=topic_of(spec), broker=mqtt_url
            )
            continue
        assert isinstance(profile, ModbusProfile)
        dev = ModbusDevice(spec, profile, sim.world)
        sim.devices[spec.id] = dev
        if isinstance(listen, TcpListen):
            key = (listen.host, listen.port or -len(tcp_groups) - 1)
            group = tcp_groups.setdefault(key, {})
            if listen.unit_id in group:
                raise ScenarioError(f"{spec.id}: unit {listen.unit_id} taken on {key}")
            group[listen.unit_id] = dev
        elif isinstance(listen, RtuOverTcpListen):
            key = (listen.host, listen.port or -len(rtu_tcp_groups) - 1)
            group = rtu_tcp_groups.setdefault(key, {})
            if listen.unit_id in group:
                raise ScenarioError(f"{spec.id}: unit {listen.unit_id} taken on {key}")
            group[listen.unit_id] = dev
        elif isinstance(listen, RtuListen):
            line = rtu_groups.setdefault(listen.port, (listen, {}))
            if listen.unit_id in line[1]:
                raise ScenarioError(f"{spec.id}: unit {listen.unit_id} taken on {listen.port}")
            line[1][listen.unit_id] = dev
        else:
            raise ScenarioError(f"{spec.id}: a Modbus profile cannot listen over MQTT")
    for (host, port), units in tcp_groups.items():
        server = SimTcpServer(DeviceBus(units, sim.clock.now, any_unit=True), host, max(port, 0))
        if not await server.listen():
            raise ServeError(f"cannot listen on {host}:{port}")
        sim.tcp_servers.append(server)
        for unit, dev in units.items():
            sim.endpoints[dev.id] = Endpoint(dev.id, "modbus-tcp", unit, host, server.port)
    for (host, port), units in rtu_tcp_groups.items():
        bus = DeviceBus(units, sim.clock.now, any_unit=False)
        server = SimTcpServer(bus, host, max(port, 0), framer=FramerType.RTU)
        if not await server.listen():
            raise ServeError(f"cannot listen on {host}:{port}")
        sim.tcp_servers.append(server)
        for unit, dev in units.items():
            sim.endpoints[dev.id] = Endpoint(dev.id, "modbus-rtu-over-tcp", unit, host, server.port)
    for path, (listen, units) in rtu_groups.items():
        if not _exists(path):
            raise ServeError(f"serial port {path} does not exist")
        bus = DeviceBus(units, sim.clock.now, any_unit=False)
        serial = SimSerialServer(bus, path, listen.baudrate, listen.parity, listen.stopbits)
        if not await serial.listen():
            raise ServeError(f"cannot open serial port {path}")
        sim.serial_servers.append(serial)
        for unit, dev in units.items():
            sim.endpoints[dev.id] = Endpoint(dev.id, "modbus-rtu", unit, path=path)
    topics = Topics(topic_prefix)
    signals = [(g, g.topic or topics.grid(g.region)) for g in sc.grid_signals]
    if (sensors or signals) and mqtt_url is not None:
        sim.publisher = SensorPublisher(
            mqtt_url, sim.world, sim.clock, sensors, login, signals=signals
        )


async def _watch_reboots(sim: Simulation) -> None:
    """Drop a device's TCP connections when a scheduled reboot starts."""
    seen: set[int] = set()
    while True:
        now = sim.clock.now()
        for inj in sim.world.faults:
            if inj.kind is FaultKind.REBOOT and inj.id not in seen and inj.active(now):
                seen.add(inj.id)
                sim.drop_connections(inj.fault.device)
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def run(
    scenario: Scenario,
    profiles: dict[str, Profile],
    mqtt_url: str | None = None,
    mqtt_login: MqttLogin | None = None,
    topic_prefix: str = "peakline",
) -> AsyncIterator[Simulation]:
    """Serve every device of the scenario until the block exits. MQTT sensors and grid signals
    publish only when mqtt_url ("mqtt://host:port") is given, logged in as `mqtt_login` if the
    broker wants one; their values are available from sim.value anyway. `topic_prefix`: the
    platform's, for the grid signals' default topics."""
    sim = Simulation(scenario, profiles)
    try:
        await _start(sim, mqtt_url, mqtt_login, topic_prefix)
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(_watch_reboots(sim))]
            if sim.publisher is not None:
                tasks.append(tg.create_task(sim.publisher.run()))
            try:
                yield sim
            finally:
                for task in tasks:
                    task.cancel()
    finally:
        for server in sim.tcp_servers:
            await server.shutdown()  # type: ignore[no-untyped-call]
        for serial in sim.serial_servers:
            await serial.shutdown()  # type: ignore[no-untyped-call]
