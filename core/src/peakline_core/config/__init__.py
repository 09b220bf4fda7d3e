"""Typed configuration: YAML files validated by pydantic models, failing fast with a location."""

from peakline_core.config.loader import PlatformConfig, load_config
from peakline_core.config.platform import (
    Agent,
    City,
    Connection,
    Device,
    District,
    ModbusRtu,
    ModbusTcp,
    MqttSource,
    Programme,
    Site,
    SpoolConfig,
    UplinkConfig,
)
from peakline_core.config.profiles import (
    ByteOrder,
    DataType,
    DeviceProfile,
    ModbusPoint,
    ModbusProfile,
    MqttField,
    MqttProfile,
    RegisterType,
    WriteLimits,
)

__all__ = [
    "Agent",
    "ByteOrder",
    "City",
    "Connection",
    "DataType",
    "Device",
    "DeviceProfile",
    "District",
    "ModbusPoint",
    "ModbusProfile",
    "ModbusRtu",
    "ModbusTcp",
    "MqttField",
    "MqttProfile",
    "MqttSource",
    "PlatformConfig",
    "Programme",
    "RegisterType",
    "Site",
    "SpoolConfig",
    "UplinkConfig",
    "WriteLimits",
    "load_config",
]
