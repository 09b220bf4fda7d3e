"""Programme, city, district, site, device and edge-agent configuration models."""

from __future__ import annotations

from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from peakline_core.emissions.scope2 import SiteMarket
from peakline_core.emissions.targets import TargetTrajectory
from peakline_core.wire.broker import BrokerAddress
from peakline_core.wire.ids import ID_PATTERN, POINT_PATTERN

Id = Annotated[str, Field(pattern=ID_PATTERN)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class City(Strict):
    id: Id
    name: str
    country: str = Field(default="", description="ISO 3166-1 alpha-2")
    population: int | None = Field(default=None, ge=0)
    public: bool = Field(default=True, description="programme-wide viewers may see its reports")
    target: TargetTrajectory | None = Field(default=None, description="the city's peaking path")


class District(Strict):
    id: Id
    city: Id
    name: str


class Flexibility(Strict):
    """One load a demand-response event may act on at a site.

    `setpoint_offset`: move `point` by up to `offset` (point units, signed: +2 degC raises a
    cooling setpoint) for `kw_per_unit` kW shed per unit of offset. `power_limit` and
    `deferrable`: write `value` (a limit, or off) to shed about `kw` kW.
    """

    device: Id
    point: Annotated[str, Field(pattern=POINT_PATTERN)]
    kind: Literal["setpoint_offset", "power_limit", "deferrable"]
    offset: float | None = Field(default=None, description="setpoint_offset: largest offset")
    kw_per_unit: float | None = Field(default=None, gt=0, description="kW shed per unit")
    value: float | bool | None = Field(default=None, description="power_limit/deferrable")
    kw: float | None = Field(default=None, gt=0, description="kW shed when applied")
    priority: int = Field(default=0, description="lower first")

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.kind == "setpoint_offset":
            if self.offset is None or self.offset == 0 or self.kw_per_unit is None:
                raise ValueError("setpoint_offset needs a non-zero `offset` and `kw_per_unit`")
        elif self.value is None or self.kw is None:
            raise ValueError(f"{self.kind} needs `value` and `kw`")
        return self


BUILDING_CAP_KW_PER_M2 = 0.25
MIN_CAP_KW = 100.0
FEEDER_CAP_KW = 20_000.0


class MeterReplacement(Strict):
    """A counter that was replaced (or reset by hand): the old register's last value and the
    new one's first, at the time of the swap. Energy is counted up to `old_kwh` on the old
    counter and from `new_kwh` on the new one."""

    point: Annotated[str, Field(pattern=POINT_PATTERN)]
    at: AwareDatetime
    old_kwh: float = Field(ge=0, description="the old counter's reading at the swap, kWh")
    new_kwh: float = Field(default=0.0, ge=0, description="the new counter's first value, kWh")


GRID_ASSET_KINDS = frozenset({"feeder", "substation"})
"""Site kinds that measure supply to other sites, not a consumer of their own."""


class Site(Strict):
    """A building or grid asset with its own meters."""

    id: Id
    name: str
    city: Id
    district: Id
    floor_area_m2: float = Field(gt=0, description="gross floor area, m2")
    occupants: int = Field(default=0, ge=0)
    grid_region: str = Field(min_length=1, description="id of the grid region in the factor sets")
    timezone: str = "UTC"
    kind: str = Field(default="building", description="building, feeder, ...")
    market: SiteMarket | None = Field(
        default=None, description="contractual instruments for market-based Scope 2"
    )
    target: TargetTrajectory | None = Field(default=None, description="the site's emissions path")
    flexibility: list[Flexibility] = Field(
        default_factory=list, description="loads demand response may act on"
    )
    meter: Id | None = Field(
        default=None, description="device metering the site's net load (DR verification)"
    )
    meter_point: Annotated[str, Field(pattern=POINT_PATTERN)] = Field(
        default="power_total", description="the meter's load point, in W"
    )
    max_demand_kw: float | None = Field(
        default=None,
        gt=0,
        description="the most power the site can draw or feed (kW): a meter step implying"
        " more is suspect and not counted; default from the floor area (see demand_cap_kw)",
    )
    counts_in_totals: bool | None = Field(
        default=None,
        description="count this site in district, city and programme totals; default yes for"
        " buildings, no for grid assets (kind feeder or substation), whose meters measure what"
        " they supply to other sites, metered ones included (counting both would count twice)",
    )

    @property
    def in_totals(self) -> bool:
        """Whether group totals (district, city, programme, inventory) count this site."""
        if self.counts_in_totals is not None:
            return self.counts_in_totals
        return self.kind not in GRID_ASSET_KINDS

    def demand_cap_kw(self) -> float:
        """`max_demand_kw`, else a generous default: 250 W/m2 of floor area (several times
        any building's peak; at least 100 kW), or 20 MW for a feeder."""
        if self.max_demand_kw is not None:
            return self.max_demand_kw
        if self.kind == "feeder":
            return max(FEEDER_CAP_KW, BUILDING_CAP_KW_PER_M2 * self.floor_area_m2)
        return max(MIN_CAP_KW, BUILDING_CAP_KW_PER_M2 * self.floor_area_m2)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA timezone {value!r}") from None
        return value


class ModbusTcp(Strict):
    driver: Literal["modbus-tcp"]
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=0, le=255)
    timeout_s: float = Field(default=1.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=10)


class ModbusRtu(Strict):
    driver: Literal["modbus-rtu"]
    port: str = Field(min_length=1, description="serial device, e.g. /dev/ttyUSB0")
    baudrate: int = Field(default=9600, ge=300, le=921600)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    unit_id: int = Field(default=1, ge=1, le=247)
    timeout_s: float = Field(default=1.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=10)


class ModbusRtuOverTcp(Strict):
    """RTU frames (unit id, PDU, CRC) over a TCP stream: serial-to-Ethernet converters in
    transparent mode, where the RTU line sits behind a TCP port with no MBAP header."""

    driver: Literal["modbus-rtu-over-tcp"]
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    unit_id: int = Field(default=1, ge=1, le=247)
    timeout_s: float = Field(default=1.0, gt=0, le=60)
    retries: int = Field(default=2, ge=0, le=10)


class MqttSource(Strict):
    driver: Literal["mqtt"]
    topic: str = Field(min_length=1, description="topic the sensor publishes its JSON on")
    broker: str | None = Field(
        default=None, description="mqtt://host:port of the sensors' broker; default: uplink's"
    )

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, v: str | None) -> str | None:
        if v is not None:
            BrokerAddress.parse(v)  # BrokerUrlError is a ValueError: reported with its path
        return v


class BacnetIp(Strict):
    """A BACnet/IP device, read through the agent's BACnet port (`Agent.bacnet`)."""

    driver: Literal["bacnet"]
    address: str = Field(min_length=1, description="the device's IP[:port], e.g. 10.0.4.20:47808")
    device_instance: int = Field(ge=0, le=4194302, description="its device object instance")
    timeout_s: float = Field(default=2.0, gt=0, le=60)
    max_apdu: int = Field(default=1476, ge=50, le=1476, description="max APDU it accepts")
    segmentation: Literal[
        "segmented-both", "segmented-transmit", "segmented-receive", "no-segmentation"
    ] = Field(default="no-segmentation", description="as its I-Am says; sizes the batched reads")
    cov_lifetime_s: int | None = Field(
        default=None,
        ge=2,
        le=86400,
        description="SubscribeCOV to every point with this lifetime, renewed before it ends;"
        " polling on poll_interval_s goes on as the fallback (None: polling only)",
    )


Connection = Annotated[
    ModbusTcp | ModbusRtu | ModbusRtuOverTcp | MqttSource | BacnetIp,
    Field(discriminator="driver"),
]
ModbusConnection = ModbusTcp | ModbusRtu | ModbusRtuOverTcp


class Device(Strict):
    id: Id
    site: Id
    agent: Id = Field(description="the edge agent that polls this device")
    profile: Id
    connection: Connection
    name: str = ""
    poll_interval_s: float = Field(default=10.0, gt=0, le=86400)
    read_only: bool = Field(default=False, description="never written, whatever its profile says")
    enabled: bool = True
    max_block_registers: int | None = Field(
        default=None, ge=1, le=125, description="edge: smaller reads than the model"
    )
    max_gap: int | None = Field(default=None, ge=0, le=124, description="edge: overrides profile's")
    meter_replacements: list[MeterReplacement] = Field(
        default_factory=list, description="counters replaced in the field (energy continuity)"
    )


class SpoolConfig(Strict):
    path: str = Field(default="spool.db", description="relative to the agent's state dir")
    max_bytes: int = Field(default=256 * 1024 * 1024, gt=0)
    max_age_s: float = Field(default=7 * 86400, gt=0)
    synchronous: Literal["normal", "full"] = Field(
        default="normal", description="SQLite fsync: normal survives kill -9, full power loss"
    )


class UplinkConfig(Strict):
    broker: str = Field(default="mqtt://127.0.0.1:1883", pattern=r"^mqtts?://")
    topic_prefix: str = "peakline"

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, v: str) -> str:
        BrokerAddress.parse(v)  # a host is required, the port must be a number
        return v

    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    batch_max_readings: int = Field(default=500, ge=1, le=20000)
    batch_max_delay_s: float = Field(default=1.0, gt=0, le=60)


class BacnetPort(Strict):
    """The agent's own BACnet/IP network port (one per agent, shared by its BACnet devices)."""

    address: str = Field(
        default="0.0.0.0/0:47808", description="local host/prefix:port the agent binds"
    )
    instance: int = Field(default=4194302, ge=0, le=4194302, description="the agent's device id")
    foreign_bbmd: str | None = Field(
        default=None,
        min_length=1,
        description="register as a foreign device with this BBMD (IP[:port]) to reach"
        " controllers on another subnet (None: a normal device on the local subnet)",
    )
    foreign_ttl_s: int = Field(
        default=300, ge=30, le=65535, description="foreign-device registration time-to-live"
    )


class Agent(Strict):
    """An edge agent: one gateway, its spool and its uplink."""

    id: Id
    site: Id | None = Field(default=None, description="site the gateway stands in, if any")
    read_only: bool = Field(default=False, description="this agent never writes to any device")
    spool: SpoolConfig = SpoolConfig()
    uplink: UplinkConfig = UplinkConfig()
    bacnet: BacnetPort = BacnetPort()


class Programme(Strict):
    """The top file, programme.yaml: the partnership and its cities and districts."""

    id: Id
    name: str
    gwp: Literal["AR4", "AR5", "AR6"] = Field(
        default="AR5",
        description="100-year GWP set for every CO2e figure of the programme (one set per"
        " inventory, as the GHG Protocol asks): CH4 and N2O of grid and fuel factors",
    )
    fuel_method: Literal["china", "ipcc2006"] = Field(
        default="ipcc2006",
        description="stationary combustion method for every fuel of the programme: china"
        " (GB/T 32150 and the sector guidelines: NCV x carbon content x oxidation x 44/12, CO2"
        " only) or ipcc2006 (Tier 1 defaults, CO2, CH4 and N2O)",
    )
    cities: list[City] = Field(min_length=1)
    districts: list[District] = Field(default_factory=list)

    @model_validator(mode="after")
    def _districts_in_cities(self) -> Self:
        cities = {c.id for c in self.cities}
        for d in self.districts:
            if d.city not in cities:
                raise ValueError(f"district {d.id!r} names unknown city {d.city!r}")
        return self
