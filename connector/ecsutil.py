"""Flat dotted ECS dicts ↔ nested JSON documents.

Internally an event is flat (`{"process.name": "cmd.exe"}`); documents that leave the process
(alerts, `replay --emit events`) are nested (`{"process": {"name": "cmd.exe"}}`).

`nest` runs for every alert and every emitted event, and the same few key sets come back
again and again; so, per key set, it compiles once a function that builds the nested
document from the values in one dict display (`_Plan`), and reuses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from operator import methodcaller
from typing import Any

__all__ = ["flatten", "nest"]

_MAX_PLANS = 512
"""Key sets with a compiled plan; later new key sets are nested step by step (no eviction:
memory stays bounded and a stream of ever-new key sets costs one compilation each at most
512 times)."""

_Build = Callable[[tuple[Any, ...]], dict[str, Any]]
_PLANS: dict[tuple[str, ...], _Build | None] = {}
"""Per key set (in the flat dict's order): its compiled plan, or None when a key is both a
value and a prefix of another key (nested step by step: see `_nest_steps`)."""


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Nest dotted keys. `@timestamp` and other dot-free keys stay at the top.

    When a key is both a value and a prefix (`a.b = 1` and `a.b.c = 2`, which ECS events
    from our mapper never produce), the longer key is kept under the literal dotted name
    so nothing is lost. Values are placed as they are (not copied). Key order: shallower
    keys first, then the flat dict's order (the order of the JSON text).
    """
    keys = tuple(flat)
    build = _PLANS.get(keys)
    if build is None and keys not in _PLANS:
        build = _plan(keys)
    if build is None:
        return _nest_steps(flat)
    return build(tuple(flat.values()))


def _nest_steps(flat: Mapping[str, Any]) -> dict[str, Any]:
    """`nest`, key by key: the reference that plans are compiled from."""
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


class _Slot:
    """Stands for the value at `index` while a plan is worked out (never a dict)."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index


def _plan(keys: tuple[str, ...]) -> _Build | None:
    """The plan for `keys`, compiled and remembered while there is room (else None): a
    function of the values (in key order) returning one nested dict display. None, and
    remembered, when a dotted prefix of a key is itself a key: where a value then lands
    depends on the values (`_nest_steps` decides)."""
    if len(_PLANS) >= _MAX_PLANS:
        return None
    known = set(keys)
    build: _Build | None = None
    if not any(key[:end] in known for key in keys for end in _dots(key)):
        # The same algorithm with placeholders gives the layout and the key order.
        layout = _nest_steps({key: _Slot(index) for index, key in enumerate(keys)})
        names: dict[str, int] = {}
        display = _display(layout, names)
        scope: dict[str, Any] = {"n": tuple(names)}
        exec(compile(f"def build(v, n=n):\n    return {display}\n", "<nest plan>", "exec"), scope)
        build = scope["build"]
    _PLANS[keys] = build
    return build


def _dots(key: str) -> list[int]:
    return [index for index, char in enumerate(key) if char == "."]


def _display(layout: dict[str, Any], names: dict[str, int]) -> str:
    """Python source of a dict display for `layout`: name `i` is `n[i]` (the text of keys
    never enters the source), the value of slot `j` is `v[j]`."""
    items = []
    for name, node in layout.items():
        ref = names.setdefault(name, len(names))
        inner = f"v[{node.index}]" if node.__class__ is _Slot else _display(node, names)
        items.append(f"n[{ref}]: {inner}")
    return "{" + ", ".join(items) + "}"


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
