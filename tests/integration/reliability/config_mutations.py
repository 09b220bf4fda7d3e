"""Hypothesis strategies that break a configuration tree: delete a key or list item, replace a
value with a hostile one (wrong type, huge, non-finite, line-protocol specials, unicode), rename
a key, or damage a file's raw text (truncate, random bytes, invalid UTF-8, deep nesting)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

HOSTILE_VALUES: list[Any] = [
    None, True, False, 0, -1, 2**70, -(2**63), 1.5, 1e308, float("inf"), float("-inf"),
    float("nan"), "", " ", "x" * 5000, "東京 🚀 \u202e", "a,b=c d\"e\\f\ng", "../../etc/passwd",
    "${HOME}", "{{x}}", "0x10", "1e400", "null", "modbus-tcp", [], {}, [None], [[[]]],
    {"id": None}, {"": ""},
]  # fmt: skip
INSERTS = [b":", b"- ", b"{", b"]", b"&a", b"*a", b"!!python/object/apply:os.system [id]", b"\x00"]
hostile_values = st.sampled_from(HOSTILE_VALUES) | st.text(max_size=20) | st.integers()


def _nodes(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a parsed YAML tree (the root is the empty path)."""
    out = [path]
    if isinstance(tree, dict):
        for k, v in tree.items():
            out += _nodes(v, (*path, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            out += _nodes(v, (*path, i))
    return out


def _parent(tree: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        tree = tree[part]
    return tree


@st.composite
def mutated_tree(draw: st.DrawFn, tree: Any) -> Any:
    """`tree` after one to four mutations."""
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _nodes(tree) if p]
        if not paths:
            return draw(hostile_values)
        path = draw(st.sampled_from(paths))
        parent, last = _parent(tree, path), path[-1]
        op = draw(st.sampled_from(["delete", "replace", "replace", "rename", "duplicate"]))
        if op == "delete":
            del parent[last]
        elif op == "replace":
            parent[last] = draw(hostile_values)
        elif op == "rename" and isinstance(parent, dict):
            key = draw(st.text(max_size=12) | st.sampled_from(["", "id", "driver", "1"]))
            parent[key] = parent.pop(last)
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
    return tree


@st.composite
def damaged_text(draw: st.DrawFn, text: bytes) -> bytes:
    """The raw bytes of a file, damaged."""
    op = draw(st.sampled_from(["truncate", "random", "insert", "invalid_utf8", "deep", "tab"]))
    at = draw(st.integers(0, len(text)))
    if op == "truncate":
        return text[:at]
    if op == "random":
        return draw(st.binary(max_size=200))
    if op == "insert":
        return text[:at] + draw(st.sampled_from(INSERTS)) + text[at:]
    if op == "invalid_utf8":
        return text[:at] + b"\xff\xfe" + text[at:]
    if op == "deep":
        depth = draw(st.integers(100, 1500))
        return text + b"\nextra: " + b"[" * depth + b"]" * depth + b"\n"
    return text.replace(b"  ", b"\t", 1)
