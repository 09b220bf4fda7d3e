"""Every service a router calls returns typed values, not dicts (issue 25): a router passes a
service's model through, and a change to a response is a change to a model that the OpenAPI
schema and mypy both see."""

from __future__ import annotations

import ast
import importlib
import inspect
import typing
from pathlib import Path

import pytest

import peakline_api.routers
import peakline_api.services

ROUTERS = Path(peakline_api.routers.__file__).parent
SERVICES = "peakline_api.services"


def _called_services(path: Path) -> set[tuple[str, str]]:
    """(module, function) of every service a router module imports or calls by attribute."""
    tree = ast.parse(path.read_text())
    found: set[tuple[str, str]] = set()
    modules: dict[str, str] = {}  # local name -> services module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == SERVICES:
            modules.update({a.asname or a.name: f"{SERVICES}.{a.name}" for a in node.names})
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(SERVICES + "."):
            found.update((node.module, a.name) for a in node.names)  # type: ignore[misc]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.add((modules[node.value.id], node.attr))
    return found


def _untyped(hint: object) -> bool:
    """A dict or Any, or a list/tuple/union of them."""
    if hint is typing.Any or hint is dict:
        return True
    origin = typing.get_origin(hint)
    if origin is dict:
        return True
    if origin in (list, tuple, typing.Union, type(int | None)):
        return any(_untyped(a) for a in typing.get_args(hint) if a is not Ellipsis)
    return False


CALLS = sorted({c for p in ROUTERS.glob("*.py") for c in _called_services(p)})


def test_the_routers_call_services() -> None:
    assert len(CALLS) >= 20, CALLS  # the walk finds them (a broken walk would pass below)


@pytest.mark.parametrize(("module", "name"), CALLS)
def test_a_service_a_router_calls_returns_a_typed_value(module: str, name: str) -> None:
    obj = getattr(importlib.import_module(module), name)
    if not inspect.isfunction(obj):
        return  # a model, a type alias or a constant the router uses
    hint = typing.get_type_hints(obj).get("return")
    assert hint is not None, f"{module}.{name} has no return annotation"
    assert not _untyped(hint), f"{module}.{name} returns {hint}"
