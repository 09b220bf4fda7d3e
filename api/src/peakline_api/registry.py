"""The config registry as the API sees it: ids, their relations, points and units.

Every identifier in a request is resolved here before it reaches a query; one that is not in
the loaded configuration never gets near a store.
"""

from __future__ import annotations

from dataclasses import dataclass

from peakline_core.config import (
    BacnetProfile,
    City,
    Device,
    District,
    ModbusProfile,
    PlatformConfig,
    Site,
    WriteLimits,
)


@dataclass(frozen=True, slots=True)
class PointInfo:
    name: str
    unit: str
    writable: WriteLimits | None
    interval_s: float | None
    counter: bool = False
    """A cumulative counter (the profile's `counter: true`): its events speak of rates."""


@dataclass(frozen=True)
class Registry:
    """Config indexed for lookups; built once in the lifespan."""

    config: PlatformConfig
    cities: dict[str, City]
    districts: dict[str, District]
    sites: dict[str, Site]
    devices: dict[str, Device]
    points: dict[str, dict[str, PointInfo]]
    """device id -> point name -> point info"""

    @classmethod
    def from_config(cls, config: PlatformConfig) -> Registry:
        points: dict[str, dict[str, PointInfo]] = {}
        for device in config.devices.values():
            profile = config.profile_of(device)
            if isinstance(profile, ModbusProfile):
                infos = [
                    PointInfo(
                        p.name,
                        p.unit,
                        None if device.read_only or profile.read_only else p.writable,
                        p.interval_s,
                        p.counter,
                    )
                    for p in profile.points
                ]
            elif isinstance(profile, BacnetProfile):
                ro = device.read_only or profile.read_only
                infos = [
                    PointInfo(p.name, p.unit, None if ro else p.writable, None)
                    for p in profile.points
                ]
            else:
                infos = [PointInfo(f.name, f.unit, None, None) for f in profile.fields]
            points[device.id] = {p.name: p for p in infos}
        return cls(
            config=config,
            cities={c.id: c for c in config.programme.cities},
            districts={d.id: d for d in config.programme.districts},
            sites=dict(config.sites),
            devices=dict(config.devices),
            points=points,
        )

    def city_of_site(self, site: str) -> str:
        return self.sites[site].city

    def devices_of_site(self, site: str) -> list[Device]:
        return [d for d in self.devices.values() if d.site == site]

    def sample_interval_s(self, device: str, point: str | None = None) -> float:
        """How often a device's point is read (s): its own interval or the device's poll."""
        info = self.points.get(device, {}).get(point or "")
        if info is not None and info.interval_s:
            return info.interval_s
        return self.devices[device].poll_interval_s
