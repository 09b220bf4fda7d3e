"""JSON Schema for every configuration file, generated from the models (kept in config/schema)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from peakline_core.config.alerts import AlertsFile
from peakline_core.config.inventory import InventoryFile
from peakline_core.config.loader import PROFILE_ADAPTER, AgentsFile, DevicesFile, SitesFile
from peakline_core.config.platform import Programme


def config_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, one per kind of configuration file."""
    from peakline_core.emissions.factors import EmissionFactorSet

    adapters: dict[str, TypeAdapter[Any]] = {
        "programme": TypeAdapter(Programme),
        "sites": TypeAdapter(SitesFile),
        "devices": TypeAdapter(DevicesFile),
        "agents": TypeAdapter(AgentsFile),
        "profile": PROFILE_ADAPTER,
        "emission-factors": TypeAdapter(EmissionFactorSet),
        "inventory": TypeAdapter(InventoryFile),
        "alerts": TypeAdapter(AlertsFile),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, adapter in adapters.items():
        schema = adapter.json_schema()
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://peakline.dev/schema/{name}.schema.json"
        out[f"{name}.schema.json"] = schema
    return out


def render(schema: dict[str, Any]) -> str:
    """Stable text form of a schema (sorted keys, trailing newline) for files and diffs."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
