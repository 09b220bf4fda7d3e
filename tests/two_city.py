"""A two-city district built from the config models (no files): the input of provisioning,
tenancy and ACL tests, shared by the unit and integration deploy tests."""

from __future__ import annotations

from pathlib import Path

from peakline_core.config import PlatformConfig
from peakline_core.config.platform import Agent, Device, Programme, Site


def two_city_config(prefix: str = "peakline") -> PlatformConfig:
    """Riverton has gateway gw-river (two meters and an MQTT air sensor); Lakeside has gw-lake
    (one meter). Site and device ids differ only by city, as a real programme's would."""
    programme = Programme.model_validate(
        {
            "id": "p",
            "name": "P",
            "cities": [{"id": "riverton", "name": "R"}, {"id": "lakeside", "name": "L"}],
        }
    )
    sites = [
        Site(id=s, name=s, city=c, district=f"{c}-d", floor_area_m2=100, grid_region="X")
        for s, c in (("rt-school", "riverton"), ("lk-hall", "lakeside"))
    ]
    tcp = {"driver": "modbus-tcp", "host": "127.0.0.1", "port": 1502}
    devices = [
        Device.model_validate(
            {
                "id": "school-meter",
                "site": "rt-school",
                "agent": "gw-river",
                "profile": "m",
                "connection": tcp,
            }
        ),
        Device.model_validate(
            {
                "id": "school-pv",
                "site": "rt-school",
                "agent": "gw-river",
                "profile": "m",
                "connection": tcp,
            }
        ),
        Device.model_validate(
            {
                "id": "school-air",
                "site": "rt-school",
                "agent": "gw-river",
                "profile": "a",
                "connection": {"driver": "mqtt", "topic": "sensors/rt-school/air"},
            }
        ),
        Device.model_validate(
            {
                "id": "hall-meter",
                "site": "lk-hall",
                "agent": "gw-lake",
                "profile": "m",
                "connection": tcp,
            }
        ),
    ]
    agents = [
        Agent.model_validate(
            {"id": "gw-river", "site": "rt-school", "uplink": {"topic_prefix": prefix}}
        ),
        Agent.model_validate(
            {"id": "gw-lake", "site": "lk-hall", "uplink": {"topic_prefix": prefix}}
        ),
    ]
    return PlatformConfig(
        root=Path("."),
        programme=programme,
        sites={s.id: s for s in sites},
        devices={d.id: d for d in devices},
        agents={a.id: a for a in agents},
        profiles={},
    )
