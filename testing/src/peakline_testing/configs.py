"""A configuration directory for a test or a benchmark, instead of hand-written YAML: one
programme (`p1`, city `c1`, district `d1` unless told otherwise), its sites, gateway agents and
devices, and any further files (alerts, inventory, profiles) by their path in the directory.

The dictionaries are what the YAML files hold, so a test states only what it is about; the
platform's own pydantic models validate them when the service under test loads the directory.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

Doc = dict[str, Any]

EXAMPLE = Path(__file__).resolve().parents[3] / "config"
"""The repository's example configuration (the demo district)."""


def programme(city: str = "c1", district: str = "d1", programme_id: str = "p1") -> Doc:
    """programme.yaml with one city and one district in it."""
    return {
        "id": programme_id,
        "name": "P",
        "cities": [{"id": city, "name": "C"}],
        "districts": [{"id": district, "city": city, "name": "D"}],
    }


def site(
    site_id: str = "s1",
    *,
    name: str = "S",
    city: str = "c1",
    district: str = "d1",
    floor_area_m2: float = 100,
    grid_region: str = "R1",
    **fields: Any,
) -> Doc:
    """One entry of sites.yaml (floor area in m2); `fields` adds meter, flexibility, limits."""
    return {
        "id": site_id,
        "name": name,
        "city": city,
        "district": district,
        "floor_area_m2": floor_area_m2,
        "grid_region": grid_region,
        **fields,
    }


def agent(
    broker: str,
    prefix: str | None = None,
    *,
    agent_id: str = "gw1",
    batch_max_delay_s: float | None = 0.2,
    **fields: Any,
) -> Doc:
    """One entry of agents.yaml publishing to `broker` under `prefix`; `fields` adds site, spool.
    A None prefix or batch delay leaves the key out (the platform's default)."""
    uplink: Doc = {"broker": broker}
    if prefix is not None:
        uplink["topic_prefix"] = prefix
    if batch_max_delay_s is not None:
        uplink["batch_max_delay_s"] = batch_max_delay_s
    return {"id": agent_id, **fields, "uplink": uplink}


def write_config_dir(
    root: Path,
    *,
    sites: Sequence[Doc],
    agents: Sequence[Doc],
    devices: Sequence[Doc],
    programme_doc: Doc | None = None,
    files: Mapping[str, Any] | None = None,
) -> Path:
    """Write programme.yaml, sites.yaml, agents.yaml, devices.yaml and `files` (relative path ->
    document) under `root`, creating folders as needed; returns `root`."""
    docs: dict[str, Any] = {
        "programme.yaml": programme_doc if programme_doc is not None else programme(),
        "sites.yaml": {"sites": list(sites)},
        "agents.yaml": {"agents": list(agents)},
        "devices.yaml": {"devices": list(devices)},
        **(files or {}),
    }
    for name, data in docs.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return root


def copy_example(root: Path, *parts: str, files: Mapping[str, Any] | None = None) -> Path:
    """Copy the example configuration to `root` (only its `parts`, e.g. "profiles", when
    given), then write `files` over it (relative path -> text as is, or a document as YAML);
    returns `root`."""
    if parts:
        for part in parts:
            shutil.copytree(EXAMPLE / part, root / part)
    else:
        shutil.copytree(EXAMPLE, root)
    for name, data in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return root
