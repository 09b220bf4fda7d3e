"""Scenario: which devices to simulate, how they listen, their physics and the faults to inject.

Loaded from YAML with `Scenario.from_yaml(path)` or built in code. Times in the YAML are ISO
8601 instants (UTC) or offsets from `start` ("90s", "15m", "2h", "1d").
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from firmware_sim.errors import ScenarioError

ID = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TcpListen(Strict):
    """Modbus TCP: port 0 picks a free port; devices sharing a non-zero port share a server
    (a gateway) and are told apart by unit id."""

    driver: Literal["modbus-tcp"] = "modbus-tcp"
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    unit_id: int = Field(default=1, ge=0, le=255)


class RtuListen(Strict):
    """Modbus RTU on a serial line (a socat pty in tests); several units may share one line."""

    driver: Literal["modbus-rtu"] = "modbus-rtu"
    port: str = Field(min_length=1, description="serial device path the simulator opens")
    unit_id: int = Field(default=1, ge=1, le=247)
    baudrate: int = 19200
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1


class RtuOverTcpListen(Strict):
    """RTU frames over TCP (a serial-to-Ethernet converter in transparent mode): port 0 picks
    a free port; devices sharing a non-zero port share the line behind it."""

    driver: Literal["modbus-rtu-over-tcp"] = "modbus-rtu-over-tcp"
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)
    unit_id: int = Field(default=1, ge=1, le=247)


class MqttListen(Strict):
    """An MQTT-native sensor: publishes JSON to `topic` every `interval_s` simulated seconds."""

    driver: Literal["mqtt"] = "mqtt"
    topic: str | None = Field(default=None, description="default sensors/<device id>")
    interval_s: float = Field(default=30.0, gt=0)


Listen = Annotated[
    TcpListen | RtuListen | RtuOverTcpListen | MqttListen, Field(discriminator="driver")
]


class Retrofit(Strict):
    """From `from_` on, heating demand (heat loss) drops by `heating_reduction` (0..1)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: datetime = Field(alias="from")
    heating_reduction: float = Field(default=0.3, ge=0, le=1)


class Physics(Strict):
    """Physics parameters; each kind reads the ones it needs (others keep their defaults).

    meter (building): base_kw, peak_kw, weekend_factor, open_hour, close_hour, power_factor,
      includes (ids of HVAC controllers, PV inverters and EV chargers behind the meter), retrofit,
      utc_offset_h (a building in another time zone than its place: its opening hours follow
      its own clock).
    every kind: place (a `places` id: the device's weather, sun and local clock come from
      there; default the scenario's own).
    pv_inverter: capacity_kw. hvac: capacity_kw (thermal), ua_kw_per_k, thermal_mass_kwh_per_k,
      cop, fan_kw, setpoint_c, mode, occupants, initial_temp_c, retrofit.
    feeder: feeds (meter ids), losses, unmetered_kw. air_quality: zone (an HVAC id), occupants,
      volume_m3. ev_charger: max_current_a, open_hour (arrival), close_hour (departure).
    utility_meter (gas, coal, heat, water, UPS output, cooling plant): base_rate_per_h,
      heating_rate_per_k, cooling_rate_per_k, balance_c, initial_total.
    """

    base_kw: float = Field(default=8.0, ge=0)
    peak_kw: float = Field(default=40.0, ge=0)
    weekend_factor: float = Field(default=0.35, ge=0, le=1)
    open_hour: float = Field(default=7.5, ge=0, le=24)
    close_hour: float = Field(default=18.5, ge=0, le=24)
    power_factor: float = Field(default=0.95, gt=0, le=1)
    utc_offset_h: float | None = Field(
        default=None, ge=-14, le=14, description="meter: the building's local time for occupancy"
    )
    place: ID | None = Field(default=None, description="a `places` id (default the scenario's)")
    includes: list[ID] = Field(default_factory=list)
    capacity_kw: float = Field(default=30.0, gt=0)
    ua_kw_per_k: float = Field(default=1.2, gt=0)
    thermal_mass_kwh_per_k: float = Field(default=25.0, gt=0)
    cop: float = Field(default=3.0, gt=0)
    fan_kw: float = Field(default=1.5, ge=0)
    setpoint_c: float = 21.0
    mode: int = Field(default=0, ge=0, le=2)
    occupants: int = Field(default=80, ge=0)
    initial_temp_c: float | None = None
    feeds: list[ID] = Field(default_factory=list)
    losses: float = Field(default=0.03, ge=0, le=0.5)
    unmetered_kw: float = Field(default=60.0, ge=0)
    zone: ID | None = None
    volume_m3: float = Field(default=600.0, gt=0)
    retrofit: Retrofit | None = None
    max_current_a: float = Field(default=32.0, gt=0, description="ev_charger: per phase, A")
    base_rate_per_h: float = Field(default=1.0, ge=0, description="utility_meter: units/h")
    heating_rate_per_k: float = Field(
        default=0.0, ge=0, description="utility_meter: extra units/h per K below balance_c"
    )
    cooling_rate_per_k: float = Field(
        default=0.0, ge=0, description="utility_meter: extra units/h per K above balance_c"
    )
    balance_c: float = Field(default=16.0, description="utility_meter: balance temperature")
    initial_total: float = Field(default=1000.0, ge=0, description="utility_meter: counter start")


class DeviceSpec(Strict):
    id: ID
    profile: ID
    listen: Listen = Field(default_factory=TcpListen)
    physics: Physics = Field(default_factory=Physics)
    read_only: bool = Field(default=False, description="refuse every write (exception 1)")


class FaultKind(StrEnum):
    """What an injected fault does (docs/firmware-sim.md has the details)."""

    SPIKE = "spike"  # value * magnitude (value + magnitude when the value is ~0)
    FLATLINE = "flatline"  # stuck at the value it had at start
    DRIFT = "drift"  # + rate_per_h * hours since start
    DROPOUT = "dropout"  # no reading: NaN / sentinel / not published
    COUNTER_RESET = "counter_reset"  # counter restarts from 0 at start (instant; stays)
    ROLLOVER = "rollover"  # counter wraps at start (instant)
    REBOOT = "reboot"  # no answers, connections dropped, writes forgotten
    WRONG_ENDIAN = "wrong_endian"  # firmware encodes with another byte order
    EXCEPTION = "exception"  # Modbus exception `code` (2, 6, ...) for an address range
    SLOW = "slow"  # answers after delay_s (wall seconds)
    TIMEOUT = "timeout"  # never answers
    SINGLE_CONNECTION = "single_connection"  # closes every TCP connection but the first
    HVAC_WASTE = "hvac_waste"  # HVAC runs outside its schedule (empty building)
    THEFT = "theft"  # meter bypass: metered power * (1 - fraction); feeder sees true load


class FaultSpec(Strict):
    kind: FaultKind
    device: ID
    point: str | None = Field(default=None, description="None: the whole device")
    start: str | float | datetime = "0s"
    duration: str | float | None = Field(default=None, description="None: until the end")
    magnitude: float = 5.0
    rate_per_h: float = 1.0
    code: int = Field(default=6, ge=1, le=11)
    first: int | None = Field(default=None, ge=0, le=65535, description="exception range")
    last: int | None = Field(default=None, ge=0, le=65535)
    delay_s: float = Field(default=2.0, ge=0)
    byte_order: Literal["ABCD", "DCBA", "BADC", "CDAB"] | None = None
    fraction: float = Field(default=0.4, ge=0, le=1)
    modulus: float | None = Field(default=None, gt=0, description="rollover: engineering units")


class GridSignal(Strict):
    """A grid region's carbon intensity as its signal provider publishes it (MQTT, JSON
    {"region", "ts", "intensity_g_per_kwh"}) every `interval_s` simulated seconds: the daily
    shape of a grid with solar at noon and its evening peak, averaging about `mean_g_per_kwh`
    (physics/grid.py)."""

    region: ID
    mean_g_per_kwh: float = Field(gt=0, le=2000)
    interval_s: float = Field(default=300.0, gt=0)
    utc_offset_h: float | None = Field(
        default=None, ge=-14, le=14, description="the region's local time (default its place's)"
    )
    place: ID | None = Field(default=None, description="whose clouds and clock (a `places` id)")
    topic: str | None = Field(default=None, description="default <prefix>/v1/grid/<region>")


class Place(Strict):
    """Where some of a scenario's devices are, when not all in one place: its own weather
    (seeded apart), sun and local clock. A programme with a partner city abroad or in
    another climate zone has devices in two or more places."""

    id: ID
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    utc_offset_h: float = Field(ge=-14, le=14)
    mean_temp_c: float = 6.0
    daily_swing_c: float = 7.0
    cloudiness: float = Field(default=0.4, ge=0, le=1)


class Scenario(Strict):
    name: str = "scenario"
    seed: int = 0
    speed: float = Field(default=1.0, ge=0, description="sim seconds per wall second; 0 = manual")
    start: datetime = Field(default_factory=lambda: datetime(2025, 1, 6, tzinfo=UTC))
    physics_step_s: float = Field(default=10.0, gt=0, le=600)
    latitude: float = Field(default=31.2, ge=-90, le=90)
    longitude: float = Field(default=121.5, ge=-180, le=180)
    utc_offset_h: float = Field(default=8.0, ge=-14, le=14, description="local time for loads")
    mean_temp_c: float = 6.0
    daily_swing_c: float = 7.0
    cloudiness: float = Field(default=0.4, ge=0, le=1)
    places: list[Place] = Field(
        default_factory=list, description="other places than the scenario's own (its fields above)"
    )
    devices: list[DeviceSpec] = Field(default_factory=list)
    faults: list[FaultSpec] = Field(default_factory=list)
    grid_signals: list[GridSignal] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Self:
        ids = [d.id for d in self.devices]
        if len(ids) != len(set(ids)):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"duplicate device ids {dup}")
        known = set(ids)
        for d in self.devices:
            for ref in [*d.physics.includes, *d.physics.feeds, d.physics.zone]:
                if ref is not None and ref not in known:
                    raise ValueError(f"device {d.id!r} refers to unknown device {ref!r}")
        for i, f in enumerate(self.faults):
            if f.device not in known:
                raise ValueError(f"faults[{i}]: unknown device {f.device!r}")
        regions = [g.region for g in self.grid_signals]
        if len(regions) != len(set(regions)):
            raise ValueError(f"grid_signals: a region twice in {regions}")
        places = [p.id for p in self.places]
        if len(places) != len(set(places)):
            raise ValueError(f"places: an id twice in {places}")
        for d in self.devices:
            if d.physics.place is not None and d.physics.place not in places:
                raise ValueError(f"device {d.id!r}: unknown place {d.physics.place!r}")
        for g in self.grid_signals:
            if g.place is not None and g.place not in places:
                raise ValueError(f"grid_signals {g.region!r}: unknown place {g.place!r}")
        return self

    def all_places(self) -> list[Place]:
        """The scenario's own place (index 0), then `places`."""
        own = Place(
            id="_scenario",
            latitude=self.latitude,
            longitude=self.longitude,
            utc_offset_h=self.utc_offset_h,
            mean_temp_c=self.mean_temp_c,
            daily_swing_c=self.daily_swing_c,
            cloudiness=self.cloudiness,
        )
        return [own, *self.places]

    def place_index(self, place: str | None) -> int:
        """The row of `place` in `all_places()` (0 for None: the scenario's own)."""
        return 0 if place is None else 1 + [p.id for p in self.places].index(place)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Scenario:
        """Load and validate a scenario file; raises ScenarioError naming the file and path."""
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ScenarioError(f"{path}: {exc}") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            issues = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
            )
            raise ScenarioError(f"{path}: {issues}") from exc

    def device(self, device_id: str) -> DeviceSpec:
        for d in self.devices:
            if d.id == device_id:
                return d
        raise ScenarioError(f"unknown device {device_id!r}")
