"""Loading device profiles (register maps) from a directory, without the rest of the config."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

from firmware_sim.errors import ScenarioError
from peakline_core.config import BacnetProfile, DeviceProfile, ModbusProfile, MqttProfile

Profile = ModbusProfile | MqttProfile


def load_profiles(directory: str | Path) -> dict[str, Profile]:
    """Every Modbus and MQTT profile in `directory/*.yaml` (e.g. config/profiles) by name
    (BACnet profiles are skipped: firmware_sim.bacnet serves those devices)."""
    adapter: TypeAdapter[Profile | BacnetProfile] = TypeAdapter(DeviceProfile)
    out: dict[str, Profile] = {}
    for path in sorted(Path(directory).glob("*.y*ml")):
        try:
            profile = adapter.validate_python(yaml.safe_load(path.read_text()))
        except (ValidationError, yaml.YAMLError) as exc:
            raise ScenarioError(f"{path}: {exc}") from exc
        if isinstance(profile, BacnetProfile):
            continue
        out[profile.name] = profile
    if not out:
        raise ScenarioError(f"no profiles in {directory}")
    return out
