"""Flat dotted ECS dicts ↔ nested JSON documents.

Internally an event is flat (`{"process.name": "cmd.exe"}`); documents that leave the process
(alerts, `replay --emit events`) are nested (`{"process": {"name": "cmd.exe"}}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import methodcaller
from typing import Any

__all__ = ["flatten", "nest"]


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Nest dotted keys. `@timestamp` and other dot-free keys stay at the top.

    When a key is both a value and a prefix (`a.b = 1` and `a.b.c = 2`, which ECS events
    from our mapper never produce), the longer key is kept under the literal dotted name
    so nothing is lost.
    """
    out: dict[str, Any] = {}
    # Shallow keys first, so a value is in place before a longer key meets it (see above).
    for key in sorted(flat, key=_DEPTH):
        value = flat[key]
        if "." not in key:
            out[key] = value
            continue
        parts = key.split(".")
        node = out
        last = len(parts) - 1
        for index in range(last):
            part = parts[index]
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif child.__class__ is not dict and not isinstance(child, dict):
                node[".".join(parts[index:])] = value
                break
            node = child
        else:
            node[parts[last]] = value
    return out


_DEPTH = methodcaller("count", ".")


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
