"""Flat dotted ECS dicts ↔ nested JSON documents.

Internally an event is flat (`{"process.name": "cmd.exe"}`); documents that leave the process
(alerts, `replay --emit events`) are nested (`{"process": {"name": "cmd.exe"}}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["flatten", "nest"]


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Nest dotted keys. `@timestamp` and other dot-free keys stay at the top.

    When a key is both a value and a prefix (`a.b = 1` and `a.b.c = 2`, which ECS events
    from our mapper never produce), the longer key is kept under the literal dotted name
    so nothing is lost.
    """
    out: dict[str, Any] = {}
    for key in sorted(flat, key=lambda k: k.count(".")):
        value = flat[key]
        parts = key.split(".")
        node = out
        for index, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                node[".".join(parts[index:])] = value
                break
            node = child
        else:
            node[parts[-1]] = value
    return out


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts into dotted keys; lists are values, not descended into."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
