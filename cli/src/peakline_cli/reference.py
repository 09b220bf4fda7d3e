"""The configuration reference (docs/configuration.md), generated from the config models' JSON
Schema so that it cannot drift from what `peakline config check` enforces."""

from __future__ import annotations

import json
from typing import Any

from peakline_core.config.schema import config_schemas

_FILES = {
    "programme.schema.json": ("programme.yaml", "The programme, its cities and districts."),
    "sites.schema.json": ("sites.yaml", "Buildings and grid assets."),
    "devices.schema.json": ("devices.yaml", "Devices and how their edge agent reaches them."),
    "agents.schema.json": ("agents.yaml", "Edge agents (gateways): spool and uplink."),
    "profile.schema.json": ("profiles/*.yaml", "Device profiles: register maps, sensor fields."),
    "emission-factors.schema.json": (
        "emission-factors/*.yaml",
        "Emission factor sets, every number with its provenance.",
    ),
    "inventory.schema.json": (
        "inventory.yaml",
        "Optional: fuel meters, heat networks and meters, refrigerant assets, data centres.",
    ),
    "alerts.schema.json": (
        "alerts.yaml",
        "Optional: alert rules and notification channels per city (see docs/alerts.md).",
    ),
}


def _type(spec: dict[str, Any]) -> str:
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "enum" in spec:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in spec["enum"])
    if "const" in spec:
        return f"`{json.dumps(spec['const'])}`"
    for key in ("anyOf", "oneOf"):
        if key in spec:
            return " or ".join(_type(s) for s in spec[key])
    kind = spec.get("type", "any")
    if kind == "array":
        return f"list of {_type(spec.get('items', {}))}"
    if kind == "object" and "additionalProperties" in spec:
        return f"map of {_type(spec['additionalProperties'])}"
    return str(kind)


def _limits(spec: dict[str, Any]) -> str:
    marks = {
        "minimum": "≥",
        "exclusiveMinimum": ">",
        "maximum": "≤",
        "exclusiveMaximum": "<",
        "pattern": "matches",
        "minLength": "length ≥",
        "maxLength": "length ≤",
        "minItems": "items ≥",
    }
    parts = [f"{label} `{spec[key]}`" for key, label in marks.items() if key in spec]
    for sub in spec.get("anyOf", []):
        parts.extend(p for p in [_limits(sub)] if p)
    return ", ".join(parts)


def _table(name: str, model: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if model.get("description"):
        lines += [" ".join(model["description"].split()), ""]
    props = model.get("properties", {})
    if not props:
        return [*lines, f"{_type(model)}", ""]
    required = set(model.get("required", []))
    lines += ["| key | type | required / default | limits | meaning |", "|---|---|---|---|---|"]
    for key, spec in props.items():
        need = "required" if key in required else f"`{json.dumps(spec.get('default'))}`"
        text = " ".join(str(spec.get("description", "")).split())
        row = [f"`{key}`", _type(spec), need, _limits(spec), text]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return [*lines, ""]


def render_reference() -> str:
    """The whole reference as Markdown."""
    out = [
        "# Configuration reference",
        "",
        "Generated from the configuration models by `peakline config reference`; do not edit.",
        "Validate a directory with `peakline config check DIR`; JSON Schema for editors is in",
        "`config/schema/`.",
        "",
    ]
    for file_name, schema in config_schemas().items():
        yaml_name, blurb = _FILES[file_name]
        out += [f"## `{yaml_name}`", "", blurb, ""]
        root = {k: v for k, v in schema.items() if k not in ("$defs", "$schema", "$id")}
        out += _table(schema.get("title", yaml_name), root)
        for name, model in sorted(schema.get("$defs", {}).items()):
            out += _table(name, model)
    return "\n".join(out).rstrip() + "\n"
